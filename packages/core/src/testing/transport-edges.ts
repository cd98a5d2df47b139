import type { Server } from 'node:http'
import { connect as connectHttp2 } from 'node:http2'
import { connect } from 'node:net'
import { afterEach, beforeEach, expect, vi } from 'vitest'
import type { RateLimiter } from '../limiter.js'
import type { RateLimiterOptions } from '../limiter-options.js'
import { fixedWindow } from '../policies/fixed-window.js'
import type { RateLimitStore, StoreRequest, StoreResponse } from '../store.js'
import { memoryStore } from '../stores/memory-store.js'
import { manualClock } from './manual-clock.js'

// Request-lifecycle edges for an adapter's tests over real sockets (vitest): requests pipelined on
// one connection, a store whose calls wait until the test settles them (a client that leaves while
// its decision is pending), and one request on a fresh socket. The three adapters' transport tests
// run them; a framework's own app and answers stay in each test.

/** The policy the transport edges are written for: 2 requests a minute, named `fw`. */
export const TRANSPORT_POLICY = fixedWindow({ name: 'fw', limit: 2, window: '1 m' })

/**
 * A memory store whose clock stands still, 40 s before a minute's end: no window ends between a
 * test's requests, and every denial waits 40 s.
 */
export const stillMemoryStore = (): RateLimitStore => memoryStore({ clock: manualClock(1_800_000_020_000) })

/** One answer read off a pipelined connection: its status, lower-cased headers and body. */
export interface PipelinedAnswer {
  /** The status code of the status line. */
  status: number
  /** The answer's header fields, names in lowercase. */
  headers: Record<string, string>
  /** The body, as many bytes as Content-Length says (none after a HEAD). */
  body: string
}

/**
 * Writes one `<method> /` request per method at once on one socket to 127.0.0.1:`port`, and reads
 * the answers in order. Rejects if anything follows the last answer (a body sent after a HEAD).
 */
export function sendPipelined(port: number, methods: readonly string[]): Promise<PipelinedAnswer[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () =>
      socket.write(methods.map((m) => `${m} / HTTP/1.1\r\nHost: x\r\n\r\n`).join('')),
    )
    const answers: PipelinedAnswer[] = []
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

/** What the pipelined case reads of each answer. */
export interface PipelinedSummary {
  /** The status code. */
  status: number
  /** `X-RateLimit-Remaining`. */
  remaining: string | undefined
  /** `Retry-After`. */
  retryAfter: string | undefined
  /** A 429's `Content-Type`. */
  type: string | undefined
  /** A 429's problem `status`, or the body as it came (`''` after a HEAD). */
  body: string | number
}

/** The {@link PipelinedSummary} of one answer. */
export const summarizePipelined = (a: PipelinedAnswer): PipelinedSummary => ({
  status: a.status,
  remaining: a.headers['x-ratelimit-remaining'],
  retryAfter: a.headers['retry-after'],
  type: a.status === 429 ? a.headers['content-type'] : undefined,
  body: a.status === 429 && a.body !== '' ? (JSON.parse(a.body) as { status: number }).status : a.body,
})

/** GET, HEAD, GET, HEAD, OPTIONS, pipelined on one socket against {@link TRANSPORT_POLICY}. */
export const PIPELINED_METHODS = ['GET', 'HEAD', 'GET', 'HEAD', 'OPTIONS'] as const

/**
 * Their answers, each request counted once, from a route that answers `route` to every method: no
 * 429 body on a HEAD (the next answer on the connection would start inside it).
 */
export const PIPELINED_SUMMARIES: readonly PipelinedSummary[] = [
  { status: 200, remaining: '1', retryAfter: undefined, type: undefined, body: 'route' },
  { status: 200, remaining: '0', retryAfter: undefined, type: undefined, body: '' },
  { status: 429, remaining: '0', retryAfter: '40', type: 'application/problem+json', body: 429 },
  { status: 429, remaining: '0', retryAfter: '40', type: 'application/problem+json', body: '' },
  { status: 429, remaining: '0', retryAfter: '40', type: 'application/problem+json', body: 429 },
]

/** A store call {@link heldStore} holds, and how the test settles it. */
export interface HeldCall {
  /** What the limiter asked of the store. */
  call: StoreRequest
  /** Answers it as the still memory store decides it. */
  answer(): void
  /** Rejects it, as a store whose connection was refused. */
  fail(): void
}

/** What {@link heldStore} gives. */
export interface HeldStore {
  /** The store, for `createRateLimiter({ store })`. */
  store: RateLimitStore
  /** The decisions it holds, oldest first (settled ones stay listed). */
  held: HeldCall[]
  /** Resolves when the next decision reaches the store. */
  nextCall(): Promise<void>
}

/**
 * A remote store (`local: false`, so the limiter's `timeout` applies) whose decisions wait until
 * the test settles them; peeks are answered at once.
 */
export function heldStore(): HeldStore {
  const inner = stillMemoryStore()
  const held: HeldCall[] = []
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

/** One `GET /` on a fresh socket to 127.0.0.1:`port`; resolves with the status once the answer ends. */
export function statusOnFreshSocket(port: number): Promise<number> {
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

/**
 * Collects what the process reports as `event` (its unhandled rejections by default, or its
 * uncaught exceptions, which a listener keeps from ending the test run) during each test of the
 * calling scope (vitest hooks): call it once at the top of a file or `describe`, and expect the
 * function it returns to give `[]`.
 */
export function collectProcessErrors(
  event: 'unhandledRejection' | 'uncaughtException' = 'unhandledRejection',
): () => readonly unknown[] {
  let seen: unknown[] = []
  const onEvent = (reason: unknown) => void seen.push(reason)
  beforeEach(() => {
    seen = []
    process.on(event, onEvent)
  })
  afterEach(() => {
    process.off(event, onEvent)
  })
  return () => seen
}

/**
 * Sends three HTTP/2 (h2c) streams at once on one connection to 127.0.0.1:`port`, whose route
 * answers `{ ip }` (the client address the framework resolved) behind a middleware on `limiter`
 * ({@link TRANSPORT_POLICY}, {@link stillMemoryStore}), and expects each stream counted once: two
 * admitted with the client's address, one denied with the whole 429 (Retry-After, draft-8 and
 * legacy fields, the problem body), and that address's bucket used up.
 */
export async function expectHttp2StreamsLimited(port: number, limiter: RateLimiter): Promise<void> {
  const session = connectHttp2(`http://127.0.0.1:${port}`)
  try {
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
    expect(answers.map((a) => a.headers[':status']).sort()).toEqual([200, 200, 429])
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
  }
}

/**
 * A client that leaves while its decision is pending: how {@link heldStore} then settles that
 * decision (answered, failed, or answered after the limiter's deadline), and the limiter options.
 */
export const CLIENT_LEFT_CASES: readonly ClientLeftCase[] = [
  ['admitted', 'answer', {}],
  ['denied', 'answer', {}],
  ["store failure, onStoreError 'deny'", 'fail', { onStoreError: 'deny' }],
  ["store failure, onStoreError 'allow'", 'fail', {}],
  // The limiter's deadline passes after the client left; the store's late answer still counts.
  ["store timeout, onStoreError 'deny'", 'timeout', { onStoreError: 'deny' }],
  ["store timeout, onStoreError 'allow'", 'timeout', {}],
]

/**
 * One of {@link CLIENT_LEFT_CASES}: its name (`admitted` and `denied` are the decision the store
 * gives), how the store settles the decision, and the limiter's options.
 */
export type ClientLeftCase = readonly [
  name: string,
  settle: 'answer' | 'fail' | 'timeout',
  options: Pick<RateLimiterOptions, 'onStoreError'>,
]

/** The app under test in {@link expectServesOnAfterClientLeft}. */
export interface ClientLeftApp {
  /** The `node:http` server the app listens with on 127.0.0.1. */
  server: Server
  /** How many requests reached the route (`GET /`, answering 200) so far. */
  routed(): number
}

/**
 * Runs one {@link ClientLeftCase} against an app limited by `limiter` (on `held`'s store, with
 * {@link TRANSPORT_POLICY}): the client goes away while its decision is pending, the store then
 * settles it, and the next request must still be decided and answered. The request whose client
 * left is counted like any other, and an admitted one still reaches the route. Under 'timeout' it
 * installs fake timers and gives them back itself.
 */
export async function expectServesOnAfterClientLeft(
  [name, settle, options]: ClientLeftCase,
  { held, nextCall }: HeldStore,
  limiter: RateLimiter,
  { server, routed }: ClientLeftApp,
): Promise<void> {
  const port = (server.address() as { port: number }).port
  if (name === 'denied') {
    // Use up the quota first.
    for (let i = 0; i < 2; i++) {
      const answered = statusOnFreshSocket(port)
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
  const routedBefore = routed()
  if (settle === 'timeout') {
    await vi.advanceTimersByTimeAsync(250)
    vi.useRealTimers()
    held.at(-1)!.answer()
  } else held.at(-1)![settle]()
  // The next request is decided and answered: the process serves on.
  const next = statusOnFreshSocket(port)
  await nextCall()
  held.at(-1)!.answer()
  expect(await next).toBe(name === 'admitted' || settle !== 'answer' ? 200 : 429)
  // Counted whenever the store was asked, and an admitted one still reaches the route, as any
  // request whose client left mid-way would.
  expect(routed() - routedBefore).toBe(name === 'denied' ? 0 : 'onStoreError' in options ? 1 : 2)
  // Used up (2 of 2) unless the store failed on the request whose client left.
  expect((await limiter.peek('ip:127.0.0.1')).allowed).toBe(settle === 'fail')
}
