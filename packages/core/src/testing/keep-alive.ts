import { Agent, request, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { expect, vi } from 'vitest'
import { DEFAULT_TIMEOUT_MS, type RateLimiterOptions } from '../limiter-options.js'
import { fixedWindow } from '../policies/fixed-window.js'
import type { RateLimitStore, StoreResponse } from '../store.js'
import { memoryStore } from '../stores/memory-store.js'
import { manualClock } from './manual-clock.js'

// Many requests on one keep-alive connection, for an adapter's tests over real sockets (vitest):
// anything a middleware registers per request on what outlives the request (a listener on the
// socket, on the server) piles up on such a connection, and past 10 listeners of one event Node
// emits a MaxListenersExceededWarning. Each case ends its requests another way: admitted, denied,
// a store that fails, a store that never answers (the limiter's deadline, under fake timers).

/** Requests sent on the one connection per case. */
export const KEEP_ALIVE_REQUESTS = 2_000

/** The requests after which the listeners are counted the first time (the rest must add none). */
const WARM_UP = 10

/** What one case gives the adapter's app, and what each request is answered. */
export interface KeepAliveRun {
  /** The middleware's options: its policies, store and failure handling. */
  readonly options: Pick<RateLimiterOptions, 'policies' | 'store' | 'onStoreError' | 'logger' | 'denyCache'>
  /** The status of the `i`-th request (from 0) from a route that answers 200. */
  status(i: number): number
  /** For a store that never answers: resolves when the next decision reaches it. */
  readonly nextCall?: () => Promise<void>
}

/** A case: its name, and what it gives (a store of its own each time). */
export type KeepAliveCase = readonly [name: string, run: () => KeepAliveRun]

const policies = fixedWindow({ name: 'fw', limit: KEEP_ALIVE_REQUESTS / 2, window: '1 d' })
const failing = (): RateLimitStore => ({
  name: 'failing',
  local: false,
  consume: () => Promise.reject(new Error('connection refused')),
  reset: () => Promise.reject(new Error('connection refused')),
  close: () => {},
})

/** The cases every adapter runs: each path a decision can end by. */
export const KEEP_ALIVE_CASES: readonly KeepAliveCase[] = [
  [
    'admitted, then denied',
    () => ({
      // A clock that stands still: the day's window never ends between requests.
      options: { policies, store: memoryStore({ clock: manualClock(1_800_000_000_000) }), logger: false },
      status: (i) => (i < KEEP_ALIVE_REQUESTS / 2 ? 200 : 429),
    }),
  ],
  [
    "store failure, onStoreError 'deny'",
    () => ({
      options: { policies, store: failing(), onStoreError: 'deny', logger: false, denyCache: false },
      status: () => 503,
    }),
  ],
  [
    "store failure, onStoreError 'allow'",
    () => ({
      options: { policies, store: failing(), logger: false, denyCache: false },
      status: () => 200,
    }),
  ],
  [
    "store timeout (a store that never answers), onStoreError 'deny'",
    () => {
      let called: () => void = () => {}
      const store: RateLimitStore = {
        name: 'hanging',
        local: false,
        consume: () =>
          new Promise<StoreResponse>(() => {
            called()
          }),
        reset: () => new Promise<void>(() => {}),
        close: () => {},
      }
      return {
        options: { policies, store, onStoreError: 'deny', logger: false, denyCache: false },
        status: () => 503,
        nextCall: () => new Promise<void>((resolve) => (called = resolve)),
      }
    },
  ],
]

/** Each event's listener count on `emitter`. */
function listenerCounts(emitter: NodeJS.EventEmitter): Record<string, number> {
  return Object.fromEntries(emitter.eventNames().map((name) => [String(name), emitter.listenerCount(name)]))
}

/**
 * Sends {@link KEEP_ALIVE_REQUESTS} `GET /` requests one after another on one keep-alive connection
 * to `server` (listening on 127.0.0.1, its route answering 200 behind a middleware made with
 * `run.options`), and expects each answered as `run.status` says, one connection for them all, the
 * same listeners on its socket and on the server after the last request as after the first
 * ten (`WARM_UP`), and no MaxListenersExceededWarning. With `run.nextCall` (a store that never
 * answers) it installs fake timers, moves them past the limiter's default timeout for each request,
 * and gives them back itself.
 */
export async function expectSteadyOnKeepAlive(server: Server, run: KeepAliveRun): Promise<void> {
  const port = (server.address() as { port: number }).port
  const sockets: Socket[] = []
  const onConnection = (socket: Socket) => void sockets.push(socket)
  const warnings: Error[] = []
  const onWarning = (warning: Error) => void warnings.push(warning)
  server.on('connection', onConnection)
  process.on('warning', onWarning)
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const get = () =>
    new Promise<number>((resolve, reject) => {
      const sent = request({ host: '127.0.0.1', port, path: '/', agent }, (response) => {
        response.resume()
        response.on('end', () => resolve(response.statusCode ?? 0))
        response.on('error', reject)
      })
      sent.on('error', reject)
      sent.end()
    })
  const statuses = new Map<number, number>()
  const expected = new Map<number, number>()
  const counts = () => ({ socket: listenerCounts(sockets[0]!), server: listenerCounts(server) })
  let afterWarmUp: ReturnType<typeof counts> | undefined
  let afterAll: ReturnType<typeof counts> | undefined
  if (run.nextCall !== undefined) vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
  try {
    for (let i = 0; i < KEEP_ALIVE_REQUESTS; i++) {
      let status: number
      if (run.nextCall === undefined) status = await get()
      else {
        const called = run.nextCall()
        const answered = get()
        await called
        await vi.advanceTimersByTimeAsync(DEFAULT_TIMEOUT_MS)
        status = await answered
      }
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
      expected.set(run.status(i), (expected.get(run.status(i)) ?? 0) + 1)
      if (i === WARM_UP - 1) {
        expect(sockets).toHaveLength(1)
        afterWarmUp = counts()
      }
    }
    afterAll = counts()
  } finally {
    vi.useRealTimers()
    agent.destroy()
    server.off('connection', onConnection)
    // Node emits its warnings on the next tick.
    await new Promise((resolve) => setImmediate(resolve))
    process.off('warning', onWarning)
  }
  expect(statuses).toEqual(expected)
  expect(sockets).toHaveLength(1)
  expect(afterAll).toEqual(afterWarmUp)
  expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([])
}
