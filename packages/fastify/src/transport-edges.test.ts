import { connect as connectHttp2, constants as http2 } from 'node:http2'
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
import fastify5 from 'fastify'
import fastify4 from 'fastify4'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { fastifyRateLimit } from './index.js'

// Transport and request-lifecycle edges over real sockets: HTTP/2 (h2c), pipelined HEAD and OPTIONS
// requests, a client that goes away while its decision is pending, and a response begun through
// reply.raw before the limiter.

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
  ['fastify 5', fastify5],
  ['fastify 4', fastify4 as unknown as typeof fastify5],
])('%s', (_name, fastify) => {
  it('counts pipelined GET, HEAD and OPTIONS requests once each, with no 429 body on HEAD', async () => {
    const app = fastify()
    await app.register(fastifyRateLimit, { policies, store: stillStore(), logger: false })
    app.route({ method: ['GET', 'OPTIONS'], url: '/', handler: async () => 'route' })
    await app.listen({ port: 0, host: '127.0.0.1' })
    try {
      const answers = await pipelined((app.server.address() as { port: number }).port, PIPELINED)
      expect(answers.map(summary)).toEqual(PIPELINED_ANSWERS)
    } finally {
      await app.close()
    }
  })

  it('limits HTTP/2 (h2c) streams by client address, each stream counted once, with the full 429', async () => {
    const limiter = createRateLimiter({ policies, store: stillStore(), logger: false })
    const app = fastify({ http2: true })
    await app.register(fastifyRateLimit, { limiter })
    app.get('/', async (request) => ({ ip: request.ip }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    const session = connectHttp2(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`)
    try {
      // Three streams at once on one connection.
      const answers = await Promise.all(
        [0, 1, 2].map(
          () =>
            new Promise<{ headers: Record<string, unknown>; body: string }>((resolve, reject) => {
              const stream = session.request({ ':path': '/' })
              let body = ''
              let headers: Record<string, unknown> = {}
              stream.on('response', (h) => (headers = h))
              stream.on('data', (chunk) => (body += chunk))
              stream.on('end', () => resolve({ headers, body }))
              stream.on('error', reject)
            }),
        ),
      )
      const statuses = answers.map((a) => a.headers[http2.HTTP2_HEADER_STATUS]).sort()
      expect(statuses).toEqual([200, 200, 429])
      const passed = answers.find((a) => a.headers[':status'] === 200)!
      expect(JSON.parse(passed.body)).toEqual({ ip: '127.0.0.1' })
      const denied = answers.find((a) => a.headers[':status'] === 429)!
      expect(denied.headers).toMatchObject({
        'content-type': 'application/problem+json',
        'cache-control': 'no-store',
        'retry-after': '40',
        'ratelimit-policy': '"fw";q=2;w=60',
        ratelimit: '"fw";r=0;t=40',
        'x-ratelimit-limit': '2',
        'x-ratelimit-remaining': '0',
      })
      expect(JSON.parse(denied.body)).toMatchObject({ status: 429, 'violated-policies': ['fw'] })
      // The client's address is the key: its bucket is the one used up.
      expect((await limiter.peek('ip:127.0.0.1')).allowed).toBe(false)
    } finally {
      session.close()
      await app.close()
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
      const app = fastify()
      const errors: unknown[] = []
      app.setErrorHandler((error, _request, reply) => {
        errors.push(error)
        reply.code(500).send()
      })
      await app.register(fastifyRateLimit, { limiter })
      let routed = 0
      app.get('/', async () => {
        routed++
        return 'route'
      })
      await app.listen({ port: 0, host: '127.0.0.1' })
      const port = (app.server.address() as { port: number }).port
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
          app.server.once('request', (request) => request.socket.once('close', resolve)),
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
        await app.close()
      }
    },
  )
})

describe.each([
  ['fastify 5', fastify5],
  ['fastify 4', fastify4 as unknown as typeof fastify5],
])('%s: a response begun through reply.raw before the limiter', (_name, fastify) => {
  let uncaught: unknown[] = []
  const onUncaught = (error: unknown) => void uncaught.push(error)
  beforeEach(() => {
    uncaught = []
    process.on('uncaughtException', onUncaught)
  })
  afterEach(() => {
    process.off('uncaughtException', onUncaught)
  })

  /**
   * GET / on a fresh socket: the bytes received, whether the answer was complete, and whether the
   * server left it open until the client gave up.
   */
  function exchange(port: number): Promise<{ text: string; complete: boolean; heldOpen: boolean }> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () =>
        socket.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      )
      let text = ''
      let heldOpen = false
      socket.on('data', (chunk) => (text += chunk))
      socket.on('close', () => resolve({ text, complete: text.endsWith('\r\n0\r\n\r\n'), heldOpen }))
      socket.on('error', reject)
      socket.setTimeout(4_000, () => {
        heldOpen = true
        socket.destroy()
      })
    })
  }

  const failingStore = (): RateLimitStore => ({
    name: 'failing',
    local: false,
    consume: () => Promise.reject(new Error('connection refused')),
    reset: () => undefined,
    close: () => undefined,
  })

  it.each([
    ['memory store, admitted then denied', () => ({ policies, store: stillStore(), logger: false as const })],
    [
      "failing store, onStoreError 'deny'",
      () => ({ policies, store: failingStore(), onStoreError: 'deny' as const, logger: false as const }),
    ],
    [
      'an onLimited that answers',
      () => ({
        policies,
        store: stillStore(),
        logger: false as const,
        onLimited: (_request: unknown, reply: { code(n: number): { send(b: string): unknown } }) =>
          reply.code(429).send('custom'),
      }),
    ],
  ])('cuts a denied request off, with no uncaught error: %s', async (label, options) => {
    const app = fastify()
    // An app's hook that streams the head and a first chunk itself, then lets the request go on.
    app.addHook('onRequest', (_request, reply, done) => {
      reply.raw.writeHead(200, { 'content-type': 'text/plain' })
      reply.raw.write('early ')
      done()
    })
    await app.register(fastifyRateLimit, options() as never)
    let routed = 0
    app.get('/', (_request, reply) => {
      routed++
      reply.raw.end('route')
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as { port: number }).port
    try {
      const answers = [await exchange(port), await exchange(port), await exchange(port)]
      // The failing store's 'deny' denies every request; the memory store from the third on.
      const denied = answers.slice(routed)
      expect(routed).toBe(label.startsWith('failing') ? 0 : 2)
      for (const answer of answers.slice(0, routed)) expect(answer.complete).toBe(true)
      // Cut off: neither completed as if it were the route's answer, nor held open.
      for (const answer of denied) expect(answer).toMatchObject({ complete: false, heldOpen: false })
      await new Promise((resolve) => setImmediate(resolve))
      expect(uncaught).toEqual([])
      expect(unhandled).toEqual([])
    } finally {
      await app.close()
    }
  })

  it('cuts the request off when onLimited writes through reply.raw and then throws', async () => {
    const app = fastify({ logger: false })
    const errors: unknown[] = []
    app.setErrorHandler((error, _request, reply) => {
      errors.push(error)
      reply.code(500).send()
    })
    await app.register(fastifyRateLimit, {
      policies,
      store: stillStore(),
      logger: false,
      onLimited: async (_request, reply) => {
        reply.raw.writeHead(429, { 'content-type': 'text/plain' })
        reply.raw.write('partial')
        throw Object.assign(new Error('onLimited failed'), { statusCode: 429 })
      },
    })
    app.get('/', async () => 'route')
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as { port: number }).port
    try {
      const answers = [await exchange(port), await exchange(port), await exchange(port)]
      expect(answers.map((a) => /^HTTP\/1\.1 (\d+)/.exec(a.text)?.[1])).toEqual(['200', '200', '429'])
      expect(answers[2]).toMatchObject({ complete: false, heldOpen: false })
      // Its head is out: the app's error handler cannot answer it any more.
      expect(errors).toEqual([])
      await new Promise((resolve) => setImmediate(resolve))
      expect(uncaught).toEqual([])
      expect(unhandled).toEqual([])
    } finally {
      await app.close()
    }
  })
})
