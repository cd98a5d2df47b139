import { type Duration, parseDuration } from '../duration.js'
import { invalidOption } from '../errors.js'
import { ceilDiv, floorDiv } from '../math.js'
import { rejectUnknownOptions, requireObject, validatePolicyName, validatePositiveInteger } from './common.js'
import type { TokenBucketPolicy, TokenBucketState, Transition } from './types.js'

/** Options of {@link tokenBucket}. */
export interface TokenBucketOptions {
  /** Counter name, unique within a request's policies. Default `"token-bucket"`. */
  name?: string
  /** Tokens in a full bucket: the largest burst (a whole number ≥ 1). */
  capacity: number
  /** Tokens added per `interval`, continuously (a whole number ≥ 1). */
  refillRate: number
  /** The refill interval: ms or a string such as `"1 s"`. */
  interval: Duration
}

const OPTIONS = ['name', 'capacity', 'refillRate', 'interval'] as const

/** capacity × intervalMs bound, for exact integer arithmetic below 2^53. */
export const MAX_BUCKET_PRODUCT = 2 ** 51

/**
 * A bucket that starts full with `capacity` tokens and refills continuously at `refillRate` tokens
 * per `interval`, never above capacity. A request of cost k takes k tokens.
 */
export function tokenBucket(options: TokenBucketOptions): TokenBucketPolicy {
  const o = requireObject(options, 'tokenBucket(options)')
  rejectUnknownOptions(o, OPTIONS, 'tokenBucket()')
  const capacity = validatePositiveInteger(o.capacity, 'tokenBucket.capacity')
  const refillRate = validatePositiveInteger(o.refillRate, 'tokenBucket.refillRate')
  const intervalMs = parseDuration(o.interval, 'tokenBucket.interval')
  if (capacity * intervalMs > MAX_BUCKET_PRODUCT) {
    invalidOption('tokenBucket.capacity', capacity, 'capacity × interval (ms) of at most 2^51')
  }
  if (refillRate > MAX_BUCKET_PRODUCT) {
    invalidOption('tokenBucket.refillRate', refillRate, 'at most 2^51')
  }
  return Object.freeze({
    kind: 'token-bucket',
    name: o.name === undefined ? 'token-bucket' : validatePolicyName(o.name, 'tokenBucket.name'),
    capacity,
    refillRate,
    intervalMs,
  })
}

/**
 * Tokens available at `nowMs`, scaled by intervalMs. Elapsed time is capped at the time a refill
 * from empty takes, so elapsed × refillRate stays within capacity × intervalMs + refillRate.
 */
export function refilledScaledTokens(
  policy: TokenBucketPolicy,
  state: TokenBucketState | undefined,
  nowMs: number,
): number {
  const full = policy.capacity * policy.intervalMs
  if (state === undefined) return full
  const elapsed = Math.min(Math.max(0, nowMs - state.updatedAtMs), ceilDiv(full, policy.refillRate))
  return Math.min(full, state.scaledTokens + elapsed * policy.refillRate)
}

/** Reference transition of DESIGN §3: admitted iff at least `cost` tokens are available now. */
export function tokenBucketTransition(
  policy: TokenBucketPolicy,
  state: TokenBucketState | undefined,
  cost: number,
  nowMs: number,
): Transition<TokenBucketState> {
  const { capacity, refillRate, intervalMs } = policy
  const full = capacity * intervalMs
  const available = refilledScaledTokens(policy, state, nowMs)
  const need = cost * intervalMs
  const allowed = available >= need
  const after = allowed ? available - need : available
  const resetAtMs = nowMs + ceilDiv(full - after, refillRate)
  let retryAfterMs = 0
  if (!allowed)
    retryAfterMs = cost > capacity ? Number.POSITIVE_INFINITY : ceilDiv(need - available, refillRate)
  return {
    outcome: { allowed, remaining: floorDiv(after, intervalMs), resetAtMs, retryAfterMs },
    next: { scaledTokens: after, updatedAtMs: nowMs },
    expiresAtMs: resetAtMs,
  }
}
