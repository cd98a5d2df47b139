// Type tests (checked by tsc -b): the RateLimitStore contract a third-party store implements, and
// the main exports of the entry points `./testing`, `./redis` and `./upstash`, imported as users do.
// Each `@ts-expect-error` line is a use the public types must refuse; the rest must compile.
import {
  createRateLimiter,
  type Duration,
  evaluatePolicies,
  fixedWindow,
  type MemoryStore,
  memoryStore,
  type PolicyOutcome,
  type RateLimiter,
  type RateLimitStore,
  type StoreRequest,
  type StoreResetRequest,
  type StoreResponse,
} from '@floodgate/core'
import { type RedisClient, type RedisStoreOptions, redisStore } from '@floodgate/core/redis'
import {
  type ManualClock,
  manualClock,
  runStoreConformance,
  type StoreConformanceOptions,
} from '@floodgate/core/testing'
import {
  type FromUpstashOptions,
  fromUpstash,
  type UpstashRatelimit,
  type UpstashRedisClient,
  upstashStore,
} from '@floodgate/core/upstash'

/** True when A and B are the same type; `any` equals only `any`, optional differs from required. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Expect<T extends true> = T

// The store contract: a name, whether it is local, and consume/reset/close, each of which may answer
// synchronously or with a promise. Requests are read-only to the store.
export type StoreContract = [
  Expect<
    Equal<
      { [K in keyof RateLimitStore]: RateLimitStore[K] },
      {
        readonly name: string
        readonly local: boolean
        consume: (request: StoreRequest) => StoreResponse | Promise<StoreResponse>
        reset: (request: StoreResetRequest) => void | Promise<void>
        close: () => void | Promise<void>
      }
    >
  >,
  Expect<Equal<StoreResponse, { nowMs: number; outcomes: PolicyOutcome[] }>>,
  Expect<Equal<StoreRequest['peek'], boolean>>,
]

/** A synchronous store, as a class. */
class MapStore implements RateLimitStore {
  readonly name = 'map'
  readonly local = true
  consume(request: StoreRequest): StoreResponse {
    // @ts-expect-error a request is read-only
    request.cost = 2
    // @ts-expect-error its policy list too
    request.policies.push(fixedWindow({ limit: 1, window: 1 }))
    return { nowMs: 0, outcomes: evaluatePolicies(request.policies, [], request.cost, 0).outcomes }
  }
  reset(_request: StoreResetRequest): void {}
  close(): void {}
}

/** An asynchronous store, as a plain object. */
const remoteStore: RateLimitStore = {
  name: 'remote',
  local: false,
  consume: async (request) => ({ nowMs: Date.now(), outcomes: request.policies.map(() => allowed) }),
  reset: async () => {},
  close: async () => {},
}
const allowed: PolicyOutcome = { allowed: true, remaining: 1, resetAtMs: 0, retryAfterMs: 0 }

export const stores: RateLimiter[] = [
  createRateLimiter({ policies: fixedWindow({ limit: 1, window: '1 s' }), store: new MapStore() }),
  createRateLimiter({ policies: fixedWindow({ limit: 1, window: '1 s' }), store: remoteStore }),
]
// @ts-expect-error a store without close
export const noClose: RateLimitStore = { name: 'x', local: true, consume: remoteStore.consume, reset() {} }
export const wrongAnswer: RateLimitStore = {
  ...remoteStore,
  // @ts-expect-error consume answers a StoreResponse, not a Decision-like object
  consume: async () => ({ allowed: true }),
}

// The memory store: options, and its introspection on top of the contract.
export const memory: MemoryStore = memoryStore({ maxKeys: 10, clock: manualClock(0) })
export type MemoryStoreTypes = [
  Expect<Equal<MemoryStore['name'], 'memory'>>,
  Expect<Equal<MemoryStore['size'], number>>,
]
// @ts-expect-error maxKeys is a number
memoryStore({ maxKeys: '10' })

// @floodgate/core/testing: the conformance kit and a manual clock that is a `() => number`.
export const clock: ManualClock = manualClock(1_000)
export const clockReadings: number[] = [clock(), clock.advance(500), clock.set(2_000)]
export function conformance(): void {
  runStoreConformance({ name: 'map', createStore: () => new MapStore() })
  runStoreConformance({
    name: 'memory',
    createStore: async ({ clock }) => memoryStore({ clock }),
    cleanup: async (store) => store.close(),
    sharedState: false,
    timeoutMs: 5_000,
  })
  // @ts-expect-error createStore makes a store
  runStoreConformance({ name: 'bad', createStore: () => ({}) })
}
export type ConformanceTypes = Expect<
  Equal<
    StoreConformanceOptions['createStore'],
    (context: { clock: () => number }) => RateLimitStore | Promise<RateLimitStore>
  >
>

// @floodgate/core/redis: redisStore takes a client (ioredis or node-redis shape) and makes a store.
export function redis(client: RedisClient): RateLimitStore {
  // @ts-expect-error a client is required
  redisStore({})
  // @ts-expect-error an object without the client's methods is not a client
  redisStore({ client: {} })
  // @ts-expect-error the option is `client`, not `redis` (that is upstashStore's)
  redisStore({ redis: client })
  return redisStore({ client, clock: () => 0, logger: false })
}
export type RedisTypes = Expect<Equal<RedisStoreOptions['client'], RedisClient>>

// @floodgate/core/upstash: upstashStore takes a `redis` client; fromUpstash wraps a Ratelimit (or one
// per tier) with its window, and gives a RateLimiter.
export function upstash(client: UpstashRedisClient, ratelimit: UpstashRatelimit): RateLimiter[] {
  const store: RateLimitStore = upstashStore({ redis: client })
  // @ts-expect-error the option is `redis`
  upstashStore({ client })
  // @ts-expect-error the window the Ratelimit was built with is required
  fromUpstash(ratelimit, {})
  // @ts-expect-error the window is a Duration
  fromUpstash(ratelimit, { window: '10 seconds' })
  return [
    createRateLimiter({ policies: fixedWindow({ limit: 1, window: 1 }), store }),
    fromUpstash(ratelimit, { window: '10 s', name: 'upstash', waitUntil: (pending) => void pending }),
    fromUpstash({ free: ratelimit, pro: ratelimit }, { window: 10_000, defaultTier: 'free' }),
  ]
}
export type UpstashTypes = Expect<Equal<FromUpstashOptions['window'], Duration>>
