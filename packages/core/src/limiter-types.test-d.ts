// Type tests (checked by tsc -b): the options of the policy factories and of createRateLimiter, and
// the limiter's methods, as imported from the package. Each `@ts-expect-error` line is a use the
// public types must refuse (the runtime refuses it too); the rest must compile.
import {
  createRateLimiter,
  type Decision,
  type Duration,
  type FixedWindowPolicy,
  type FloodgateError,
  fixedWindow,
  type LimitOptions,
  memoryStore,
  type Policy,
  type RateLimiter,
  type RateLimiterOptions,
  type SlidingWindowPolicy,
  slidingWindow,
  type TokenBucketPolicy,
  tokenBucket,
} from '@floodgate/core'

/** True when A and B are the same type; `any` equals only `any`, optional differs from required. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Expect<T extends true> = T

// Durations: a number of ms, or "<n> <unit>" / "<n><unit>" with unit ms, s, m, h, d; nothing else.
export const durations: Duration[] = [60_000, '250 ms', '10 s', '10s', '1.5 m', '1 h', '1d']
// @ts-expect-error a unit Floodgate does not know
export const week: Duration = '1 w'
// @ts-expect-error a spelled-out unit
export const minute: Duration = '1 minute'
// @ts-expect-error a string of unknown content is not a duration (runtime parses only the forms above)
export const anyString: Duration = String('1 m')
// @ts-expect-error no unit
export const bare: Duration = '60000'

// Policy factories: required fields, their types, and no field a policy would ignore.
export const perMinute = fixedWindow({ limit: 100, window: '1 m' })
export const named = fixedWindow({ name: 'daily', limit: 10_000, window: 86_400_000 })
export const sliding = slidingWindow({ name: 'api', limit: 100, window: '1 m' })
export const bucket = tokenBucket({ name: 'burst', capacity: 20, refillRate: 10, interval: '1 s' })
export type FactoryResults = [
  Expect<Equal<typeof perMinute, FixedWindowPolicy>>,
  Expect<Equal<typeof sliding, SlidingWindowPolicy>>,
  Expect<Equal<typeof bucket, TokenBucketPolicy>>,
  Expect<Equal<Policy, FixedWindowPolicy | SlidingWindowPolicy | TokenBucketPolicy>>,
]
// @ts-expect-error limit is a number, not a string
fixedWindow({ limit: '100', window: '1 m' })
// @ts-expect-error window is required
fixedWindow({ limit: 100 })
// @ts-expect-error a name is a string
slidingWindow({ name: 7, limit: 100, window: '1 m' })
// @ts-expect-error `windowMs` is the policy's field, not the factory's option (runtime: unknown option)
slidingWindow({ limit: 100, windowMs: 60_000 })
// @ts-expect-error window is a Duration, not any string
slidingWindow({ limit: 100, window: '1 minute' })
// @ts-expect-error refillRate is required
tokenBucket({ capacity: 20, interval: '1 s' })
// @ts-expect-error a bucket's period is `interval`, not `window`
tokenBucket({ capacity: 20, refillRate: 10, window: '1 s' })
// @ts-expect-error capacity is a number
tokenBucket({ capacity: 20n, refillRate: 10, interval: '1 s' })

// Policies are frozen data: fields are readonly, and `kind` narrows to the policy's own fields.
// @ts-expect-error readonly
perMinute.limit = 5
export function quotaOf(policy: Policy): number {
  if (policy.kind === 'token-bucket') return policy.capacity
  // @ts-expect-error only a token bucket has a capacity
  policy.capacity
  return policy.limit
}

// createRateLimiter: one policy or a list (readonly too), or tiers with a default tier, and the
// limiter-wide options with their exact values.
export const one: RateLimiter = createRateLimiter({ policies: perMinute })
export const several = createRateLimiter({ policies: [bucket, named] })
export const frozenList = createRateLimiter({ policies: [bucket, named] as const })
export const tiered = createRateLimiter({
  tiers: { free: [perMinute], pro: fixedWindow({ limit: 1_000, window: '1 m' }) },
  defaultTier: 'free',
})
export const everything = createRateLimiter({
  policies: sliding,
  store: memoryStore({ maxKeys: 1_000, clock: () => 0 }),
  prefix: 'app',
  timeout: '250 ms',
  onStoreError: 'deny',
  mode: 'shadow',
  onStoreFailure: async (error) => {
    const failure: FloodgateError = error
    return failure.code
  },
  logger: { warn: (message: string) => void message },
  silenceWarnings: ['WARN_FLOODGATE_UNKNOWN_TIER'],
  denyCache: { maxEntries: 100 },
})
createRateLimiter({ policies: sliding, logger: false, denyCache: false, timeout: 100, mode: 'enforce' })
export type LimiterOptionTypes = [
  Expect<Equal<RateLimiterOptions['onStoreError'], 'allow' | 'deny' | undefined>>,
  Expect<Equal<RateLimiterOptions['mode'], 'enforce' | 'shadow' | undefined>>,
  Expect<Equal<RateLimiterOptions['timeout'], Duration | undefined>>,
  Expect<Equal<RateLimiterOptions['policies'], Policy | readonly Policy[] | undefined>>,
  Expect<Equal<RateLimiterOptions['defaultTier'], string | undefined>>,
]
// @ts-expect-error onStoreError is 'allow' or 'deny'
createRateLimiter({ policies: sliding, onStoreError: 'fail' })
// @ts-expect-error mode is 'enforce' or 'shadow'
createRateLimiter({ policies: sliding, mode: 'dry-run' })
// @ts-expect-error timeout is a Duration
createRateLimiter({ policies: sliding, timeout: '1 week' })
// @ts-expect-error `policy` is not an option (runtime: unknown option, did you mean `policies`)
createRateLimiter({ policy: sliding })
// @ts-expect-error a policy is made by a factory, not written as options
createRateLimiter({ policies: { limit: 10, window: '1 m' } })
// @ts-expect-error a store has consume, reset and close
createRateLimiter({ policies: sliding, store: {} })
// @ts-expect-error only WARN_FLOODGATE_* codes can be silenced
createRateLimiter({ policies: sliding, silenceWarnings: ['WARN_NOPE'] })
// @ts-expect-error defaultTier is a tier's name
createRateLimiter({ tiers: { free: perMinute }, defaultTier: 1 })
// @ts-expect-error a tier's policies are policies
createRateLimiter({ tiers: { free: 100 }, defaultTier: 'free' })

// The limiter's methods: limit and peek decide (with an optional cost and tier), reset and close
// resolve to nothing.
export type LimiterMethods = [
  Expect<Equal<Parameters<RateLimiter['limit']>, [identifier: string, options?: LimitOptions]>>,
  Expect<Equal<ReturnType<RateLimiter['limit']>, Promise<Decision>>>,
  Expect<Equal<Parameters<RateLimiter['peek']>, [identifier: string, options?: LimitOptions]>>,
  Expect<Equal<ReturnType<RateLimiter['peek']>, Promise<Decision>>>,
  Expect<Equal<Parameters<RateLimiter['reset']>, [identifier: string]>>,
  Expect<Equal<ReturnType<RateLimiter['reset']>, Promise<void>>>,
  Expect<Equal<ReturnType<RateLimiter['close']>, Promise<void>>>,
  Expect<Equal<LimitOptions, { cost?: number | undefined; tier?: string | undefined }>>,
]
export async function use(limiter: RateLimiter): Promise<Decision> {
  await limiter.peek('user:42')
  await limiter.limit('user:42', { cost: 5 })
  await limiter.reset('user:42')
  const decision = await limiter.limit('user:42', { cost: 1, tier: 'pro' })
  // @ts-expect-error the cost goes in an options object (runtime: ERR_FLOODGATE_INVALID_OPTION)
  await limiter.limit('user:42', 5)
  // @ts-expect-error rate-limiter-flexible's `points` is `cost` here
  await limiter.limit('user:42', { points: 5 })
  // @ts-expect-error an identifier is a string (runtime: ERR_FLOODGATE_INVALID_IDENTIFIER)
  await limiter.limit(42)
  // @ts-expect-error a cost is a number
  await limiter.peek('user:42', { cost: '2' })
  await limiter.close()
  return decision
}
