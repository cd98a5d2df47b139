import { type Duration, parseDuration } from '../duration.js'
import { invalidOption } from '../errors.js'
import { ceilDiv, floorDiv } from '../math.js'
import {
  rejectUnknownOptions,
  requireObject,
  validatePolicyName,
  validatePositiveInteger,
  validateQuota,
} from './common.js'
import type { PolicyOutcome, TokenBucketPolicy, TokenBucketState, Transition } from './types.js'

/** Options of {@link tokenBucket}. */
export interface TokenBucketOptions {
  /** Counter name, unique within a request's policies. Default `"token-bucket"`. */
  name?: string | undefined
  /** Tokens in a full bucket, the largest burst: a whole number from 1 to 999,999,999,999,999. */
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
  const capacity = validateQuota(o.capacity, 'tokenBucket.capacity')
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
  if (state === undefined || expired(state, nowMs)) return full
  const elapsed = Math.min(Math.max(0, nowMs - state.updatedAtMs), ceilDiv(full, policy.refillRate))
  return Math.min(full, state.scaledTokens + elapsed * policy.refillRate)
}

/**
 * Whether a bucket's counter has expired: it was full again under the policy that wrote it. Strictly
 * after its expiry, as Redis keeps a key until its expiry instant has passed.
 */
function expired(state: TokenBucketState, nowMs: number): boolean {
  return state.expiresAtMs !== undefined && state.expiresAtMs < nowMs
}

/**
 * A denied request leaves the bucket's state as it is, and a state strictly past its expiry reads
 * as a full bucket (see {@link refilledScaledTokens}): under a policy other than the one that wrote
 * it (a tier with a larger capacity or a slower refill), that comes before the refill alone would
 * fill it. So the denial's times reach no later than 1 ms past the expiry: there the bucket is full,
 * and any cost up to the capacity is admitted.
 */
export function boundByExpiry(out: PolicyOutcome, expiresAtMs: number | undefined, nowMs: number): void {
  if (expiresAtMs === undefined || expiresAtMs < nowMs) return
  const fullAtMs = expiresAtMs + 1
  if (out.resetAtMs > fullAtMs) out.resetAtMs = fullAtMs
  if (out.retryAfterMs !== Number.POSITIVE_INFINITY && nowMs + out.retryAfterMs > fullAtMs) {
    out.retryAfterMs = fullAtMs - nowMs
  }
}

/** Reference transition of DESIGN §3: admitted iff at least `cost` tokens are available now. */
export function tokenBucketTransition(
  policy: TokenBucketPolicy,
  state: TokenBucketState | undefined,
  cost: number,
  nowMs: number,
): Transition<TokenBucketState> {
  const { capacity, refillRate, intervalMs } = policy
  const available = refilledScaledTokens(policy, state, nowMs)
  const outcome: PolicyOutcome = { allowed: false, remaining: 0, resetAtMs: 0, retryAfterMs: 0 }
  const after = tokenBucketStep(capacity, refillRate, intervalMs, available, cost, nowMs, outcome)
  if (!outcome.allowed && state !== undefined) boundByExpiry(outcome, state.expiresAtMs, nowMs)
  const expiresAtMs = keptUntil(policy, state, after, nowMs, outcome.resetAtMs)
  return { outcome, next: { scaledTokens: after, updatedAtMs: nowMs, expiresAtMs }, expiresAtMs }
}

/**
 * How long a charged bucket's state is kept (past it, the bucket reads as full under any
 * capacity): until it is full again under this policy (`fullAtMs`), or, while the state has not
 * expired, until it is full under the capacity its expiry was set for (a larger one: another tier,
 * the other version of a deploy). That capacity's shortfall grows by what this charge takes, and
 * by what this policy's smaller capacity cut off the refill since (`refilled - after`, uncapped):
 * the expiry moves later by the time the refill takes to bring that back. Kept any shorter, a
 * larger capacity would read a full bucket before the refill could fill it, and requests that
 * alternate between capacities would take the larger one again and again. Exact when the tiers
 * share a refill rate (the rate of the charging policy is the one known here).
 */
export function keptUntil(
  policy: TokenBucketPolicy,
  state: TokenBucketState | undefined,
  after: number,
  nowMs: number,
  fullAtMs: number,
): number {
  const previous = state?.expiresAtMs
  if (state === undefined || previous === undefined || previous < nowMs) return fullAtMs
  const { scaledTokens, updatedAtMs } = state
  const { refillRate } = policy
  // Set for this capacity or a smaller one (when it would be full under this one): nothing to keep.
  const full = policy.capacity * policy.intervalMs
  if (previous <= updatedAtMs + ceilDiv(Math.max(0, full - scaledTokens), refillRate)) return fullAtMs
  // The state's tokens refilled since, with no capacity (bounded: no bucket holds more).
  const refilled = Math.min(MAX_BUCKET_PRODUCT, scaledTokens + Math.max(0, nowMs - updatedAtMs) * refillRate)
  const kept = previous + ceilDiv(Math.max(0, refilled - after), refillRate)
  return kept > fullAtMs ? kept : fullAtMs
}

/**
 * The token-bucket maths on scalars, allocating nothing (the memory store calls it per request):
 * `available` is the refilled scaled token count at `nowMs` (see {@link refilledScaledTokens}). Writes
 * the outcome into `out` and returns the scaled tokens to store, measured at `nowMs` (unchanged
 * when denied); they expire at `out.resetAtMs`, when the bucket is full again.
 */
export function tokenBucketStep(
  capacity: number,
  refillRate: number,
  intervalMs: number,
  available: number,
  cost: number,
  nowMs: number,
  out: PolicyOutcome,
): number {
  const need = cost * intervalMs
  const allowed = available >= need
  const after = allowed ? available - need : available
  out.allowed = allowed
  out.remaining = floorDiv(after, intervalMs)
  out.resetAtMs = nowMs + ceilDiv(capacity * intervalMs - after, refillRate)
  out.retryAfterMs = allowed
    ? 0
    : cost > capacity
      ? Number.POSITIVE_INFINITY
      : ceilDiv(need - available, refillRate)
  return after
}
