import { createServer } from 'node:http'
import { connect } from 'node:net'
import {
  createRateLimiter,
  fixedWindow,
  memoryStore,
  type RateLimitStore,
  type StoreRequest,
  type StoreResponse,
} from '@floodgate/core'
import { manualClock } from '@floodgate/core/testing'
import express5, { type ErrorRequestHandler } from 'express'
import express4 from 'express4'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { rateLimit } from './index.js'

// Request-lifecycle edges over real sockets: pipelined HEAD and OPTIONS requests, and a client that
// goes away while its decision is pending.
// (Express 4 and 5 do not run on Node's HTTP/2 compatibility API, with or without Floodgate.)

const policies = fixedWindow({ name: 'fw', limit: 2, window: '1 m' })
/** A memory store whose clock stands still: no window's end between a test's requests. */
const stillStore = () => memoryStore({ clock: manualClock(1_800_000_020_000) })

/** One pipelined answer: its status, lower-cased headers and body. */
interface Answer {
  status: number
  headers: Record<string, string>
  body: string
}

/** Writes one request per method at once on one socket and reads the answers in order. */
function pipelined(port: number, methods: readonly string[]): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () =>
      socket.write(methods.map((m) => `${m} / HTTP/1.1\r\nHost: x\r\n\r\n`).join('')),
    )
    const answers: Answer[] = []
    let text = ''
    socket.on('data', (chunk) => {
      text += chunk
      for (;;) {
        const end = text.indexOf('\r\n\r\n')
        if (end === -1 || answers.length === methods.length) break
        const [statusLine, ...lines] = text.slice(0, end).split('\r\n')
        const headers = Object.fromEntries(
          lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
        )
        // No body follows the head of an answer to HEAD, whatever its Content-Length says.
        const length = methods[answers.length] === 'HEAD' ? 0 : Number(headers['content-length'])
        if (text.length < end + 4 + length) break
        answers.push({
          status: Number(statusLine!.split(' ')[1]),
          headers,
          body: text.slice(end + 4, end + 4 + length),
        })
        text = text.slice(end + 4 + length)
      }
      if (answers.length === methods.length) {
        socket.destroy()
        // Nothing may follow the last answer (a HEAD body would show here).
        if (text === '') resolve(answers)
        else reject(new Error(`unexpected bytes after the last answer: ${JSON.stringify(text)}`))
      }
    })
    socket.on('error', reject)
  })
}

/** What the pipelined test reads of each answer. */
const summary = (a: Answer) => ({
  status: a.status,
  remaining: a.headers['x-ratelimit-remaining'],
  retryAfter: a.headers['retry-after'],
  type: a.status === 429 ? a.headers['content-type'] : undefined,
  body: a.status === 429 && a.body !== '' ? (JSON.parse(a.body) as { status: number }).status : a.body,
})

/** GET, HEAD, GET, HEAD, OPTIONS pipelined on one socket against a limit of 2: each counted once. */
const PIPELINED = ['GET', 'HEAD', 'GET', 'HEAD', 'OPTIONS'] as const
const PIPELINED_ANSWERS = [
  { status: 200, remaining: '1', retryAfter: undefined, type: undefined, body: 'route' },
  { status: 200, remaining: '0', retryAfter: undefined, type: undefined, body: '' },
  { status: 429, remaining: '0', retryAfter: '40', type: 'application/problem+json', body: 429 },
  { status: 429, remaining: '0', retryAfter: '40', type: 'application/problem+json', body: '' },
  { status: 429, remaining: '0', retryAfter: '40', type: 'application/problem+json', body: 429 },
]

let unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => void unhandled.push(reason)
beforeEach(() => {
  unhandled = []
  process.on('unhandledRejection', onUnhandled)
})
afterEach(() => {
  process.off('unhandledRejection', onUnhandled)
  vi.useRealTimers()
})

/** A remote store whose calls wait until the test settles them (peeks are answered at once). */
function heldStore() {
  const inner = stillStore()
  const held: { call: StoreRequest; answer(): void; fail(): void }[] = []
  let called: () => void = () => {}
  const store: RateLimitStore = {
    name: 'held',
    local: false,
    consume: (call) =>
      call.peek
        ? inner.consume(call)
        : new Promise<StoreResponse>((resolve, reject) => {
            held.push({
              call,
              answer: () => resolve(inner.consume(call)),
              fail: () => reject(new Error('connection refused')),
            })
            called()
          }),
    reset: (r) => inner.reset(r),
    close: () => inner.close(),
  }
  return { store, held, nextCall: () => new Promise<void>((resolve) => (called = resolve)) }
}

/** One HTTP/1.1 request on a fresh socket; resolves with the status code once the answer ends. */
function status(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () =>
      socket.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    )
    let text = ''
    socket.on('data', (chunk) => (text += chunk))
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1])))
    socket.on('error', reject)
  })
}

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express5],
])('%s', (_name, express) => {
  it('counts pipelined GET, HEAD and OPTIONS requests once each, with no 429 body on HEAD', async () => {
    const app = express()
    app.use(rateLimit({ policies, store: stillStore(), logger: false }))
    app.all('/', (_req, res) => void res.send('route'))
    const server = createServer(app)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const answers = await pipelined((server.address() as { port: number }).port, PIPELINED)
      expect(answers.map(summary)).toEqual(PIPELINED_ANSWERS)
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it.each([
    ['admitted', 'answer', {}],
    ['denied', 'answer', {}],
    ["store failure, onStoreError 'deny'", 'fail', { onStoreError: 'deny' as const }],
    ["store failure, onStoreError 'allow'", 'fail', {}],
    // The limiter's deadline passes after the client left; the store's late answer still counts.
    ["store timeout, onStoreError 'deny'", 'timeout', { onStoreError: 'deny' as const }],
    ["store timeout, onStoreError 'allow'", 'timeout', {}],
  ] as const)(
    'serves on after a client left while its decision was pending: %s',
    async (name, settle, extra) => {
      const { store, held, nextCall } = heldStore()
      const limiter = createRateLimiter({ policies, store, logger: false, denyCache: false, ...extra })
      const app = express()
      const errors: unknown[] = []
      app.use(rateLimit({ limiter }))
      let routed = 0
      app.get('/', (_req, res) => {
        routed++
        res.send('route')
      })
      const onError: ErrorRequestHandler = (error, _req, res, _next) => {
        errors.push(error)
        res.status(500).end()
      }
      app.use(onError)
      const server = createServer(app)
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const port = (server.address() as { port: number }).port
      try {
        if (name === 'denied') {
          // Use up the quota first.
          for (let i = 0; i < 2; i++) {
            const answered = status(port)
            await nextCall()
            held.at(-1)!.answer()
            expect(await answered).toBe(200)
          }
        }
        const gone = new Promise<void>((resolve) =>
          server.once('request', (request) => request.socket.once('close', resolve)),
        )
        if (settle === 'timeout') vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
        const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
        socket.on('error', () => {})
        await nextCall()
        socket.destroy()
        await gone
        const routedBefore = routed
        if (settle === 'timeout') {
          await vi.advanceTimersByTimeAsync(250)
          vi.useRealTimers()
          held.at(-1)!.answer()
        } else held.at(-1)![settle]()
        // The next request is decided and answered: the process serves on.
        const next = status(port)
        await nextCall()
        held.at(-1)!.answer()
        expect(await next).toBe(name === 'admitted' || settle !== 'answer' ? 200 : 429)
        // A request decided after its client left is counted like any other (the store was asked), and
        // an admitted one still reaches the route, as any request whose client left mid-way would.
        expect(routed - routedBefore).toBe(name === 'denied' ? 0 : 'onStoreError' in extra ? 1 : 2)
        // Used up (2 of 2) unless the store failed on the request whose client left.
        expect((await limiter.peek('ip:127.0.0.1')).allowed).toBe(settle === 'fail')
        expect(errors).toEqual([])
        expect(unhandled).toEqual([])
      } finally {
        server.closeAllConnections()
        await new Promise((resolve) => server.close(resolve))
      }
    },
  )
})
