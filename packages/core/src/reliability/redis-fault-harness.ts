import { watchEventLoopLag } from '@floodgate/tools'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { expect } from 'vitest'
import type { Decision } from '../decision.js'
import type { RateLimiter } from '../limiter.js'
import { SUBMIT, type SubmittingStore, submittingStore } from '../queued-call.js'
import { redisStore } from '../redis/redis-store.js'
import type { RateLimitStore, StoreResponse } from '../store.js'

// Shared by the fault-proxy tests: clients set up as docs/stores.md says, a store that counts its
// pending calls against the requests in flight, and a timed limit().

export const CLIENT_TIMEOUT_MS = 200

export type RedisLibrary = 'ioredis' | 'node-redis'
export const REDIS_LIBRARIES: readonly RedisLibrary[] = ['ioredis', 'node-redis']

export interface FaultClient {
  store: RateLimitStore
  /**
   * Commands the client holds (queued or awaiting a reply): ioredis's command queue; for node-redis,
   * whose queue is private, the store's count of commands whose promise node-redis has not settled.
   */
  heldCommands(): number
  close(): Promise<void>
}

/**
 * A client through `url` with exactly the settings docs/stores.md gives, connected; its store reads
 * `clock` when given (Redis's own otherwise).
 */
export async function connectClient(
  library: RedisLibrary,
  url: string,
  clock?: () => number,
): Promise<FaultClient> {
  if (library === 'ioredis') {
    const client = new Redis(url, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: CLIENT_TIMEOUT_MS,
      socketTimeout: CLIENT_TIMEOUT_MS + 20,
      retryStrategy: () => 20,
    })
    client.on('error', () => undefined)
    await new Promise((resolve) => client.once('ready', resolve))
    const internals = client as unknown as { commandQueue: { length: number } }
    return {
      store: redisStore({ client, clock }),
      heldCommands: () => internals.commandQueue.length,
      close: async () => client.disconnect(),
    }
  }
  const client = createClient({
    url,
    disableOfflineQueue: true,
    commandOptions: { timeout: CLIENT_TIMEOUT_MS },
    socket: { socketTimeout: CLIENT_TIMEOUT_MS, reconnectStrategy: () => 20 },
  })
  client.on('error', () => undefined)
  await client.connect()
  const store = redisStore({ client, clock })
  return {
    store,
    heldCommands: () => (store as unknown as { commandsHeld: number }).commandsHeld,
    close: async () => void client.destroy(),
  }
}

/**
 * Wraps a store and the limiter calls made on it, and records the worst moment at which more store
 * calls were pending than requests were waiting for an answer (a pile-up).
 */
export class InFlightCounter {
  pendingStoreCalls = 0
  requestsInFlight = 0
  /** Largest excess of pending store calls over requests in flight seen so far. */
  worstExcess = 0
  maxPendingStoreCalls = 0
  /** How late timers ran while the counter watched (until `stop()`). */
  private readonly lag = watchEventLoopLag()

  /** A real-time bound on a timer's answer, moved by as much as the event loop ran late. */
  lateBy(boundMs: number): number {
    return boundMs + this.lag.worstMs()
  }

  /**
   * No store call outlived its request: the client's own timeout (CLIENT_TIMEOUT_MS) settles a call
   * before the limiter's deadline (`deadlineMs`) answers its request. Judged only while the event
   * loop ran late by less than the gap between the two: later, a call's timer, started when the
   * command was written, may fire after its request's. Called once every request was answered.
   */
  expectNoCallOutlivedItsRequest(deadlineMs: number): void {
    if (this.lag.worstMs() >= deadlineMs - CLIENT_TIMEOUT_MS) return
    expect(this.worstExcess).toBe(0)
    expect(this.pendingStoreCalls).toBe(0)
  }

  stop(): void {
    this.lag.stop()
  }

  wrap(store: RateLimitStore): RateLimitStore {
    const wrapped: RateLimitStore & Partial<SubmittingStore> = {
      name: store.name,
      local: store.local,
      consume: (request) => {
        this.started()
        const result = Promise.resolve(store.consume(request)) as Promise<StoreResponse>
        result.then(this.settled, this.settled)
        return result
      },
      reset: (request) => store.reset(request),
      close: () => store.close(),
    }
    // The limiter's own path into the Redis store, counted the same way, so the pile-up is measured
    // on what applications run.
    const submitting = submittingStore(store)
    if (submitting !== undefined) {
      wrapped[SUBMIT] = (prefix, id, policies, cost, peek, call) => {
        this.started()
        let open = true
        const settle = () => {
          if (open) this.settled()
          open = false
        }
        try {
          submitting[SUBMIT](prefix, id, policies, cost, peek, {
            respond: (reply, at, nowMs) => {
              settle()
              call.respond(reply, at, nowMs)
            },
            fail: (error) => {
              settle()
              call.fail(error)
            },
            // The store reads the call's deadline when it sends it.
            get atMs() {
              return call.atMs
            },
            get settled() {
              return call.settled
            },
          })
        } catch (error) {
          settle()
          throw error
        }
      }
    }
    return wrapped
  }

  private started(): void {
    this.pendingStoreCalls++
    this.maxPendingStoreCalls = Math.max(this.maxPendingStoreCalls, this.pendingStoreCalls)
    this.check()
  }

  private readonly settled = (): void => {
    this.pendingStoreCalls--
  }

  /** limit() timed with performance.now(), counted as a request in flight until it answers. */
  async limit(limiter: RateLimiter, id: string): Promise<{ decision: Decision; ms: number }> {
    this.requestsInFlight++
    const start = performance.now()
    try {
      const decision = await limiter.limit(id)
      return { decision, ms: performance.now() - start }
    } finally {
      this.requestsInFlight--
      this.check()
    }
  }

  private check(): void {
    this.worstExcess = Math.max(this.worstExcess, this.pendingStoreCalls - this.requestsInFlight)
  }
}
