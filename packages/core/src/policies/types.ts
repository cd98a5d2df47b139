/** The three algorithms Floodgate implements, identically on every store. */
export type PolicyKind = 'fixed-window' | 'sliding-window' | 'token-bucket'

/** An epoch-aligned fixed window: at most `limit` units per window of `windowMs`. */
export interface FixedWindowPolicy {
  /** Discriminant: `"fixed-window"`. */
  readonly kind: 'fixed-window'
  /** Counter name; counters belong to (prefix, name, identifier). */
  readonly name: string
  /** Units admitted per window. */
  readonly limit: number
  /** Window length in milliseconds; windows start at multiples of it since the epoch. */
  readonly windowMs: number
}

/** The weighted two-window counter: the previous window counts in proportion to its overlap. */
export interface SlidingWindowPolicy {
  /** Discriminant: `"sliding-window"`. */
  readonly kind: 'sliding-window'
  /** Counter name; counters belong to (prefix, name, identifier). */
  readonly name: string
  /** Units admitted per sliding window. */
  readonly limit: number
  /** Window length in milliseconds. */
  readonly windowMs: number
}

/** A bucket of `capacity` tokens refilling continuously at `refillRate` tokens per `intervalMs`. */
export interface TokenBucketPolicy {
  /** Discriminant: `"token-bucket"`. */
  readonly kind: 'token-bucket'
  /** Counter name; counters belong to (prefix, name, identifier). */
  readonly name: string
  /** Tokens in a full bucket (and the largest burst). */
  readonly capacity: number
  /** Tokens added per interval, continuously. */
  readonly refillRate: number
  /** The refill interval in milliseconds. */
  readonly intervalMs: number
}

/** A policy made by `fixedWindow()`, `slidingWindow()` or `tokenBucket()`: plain frozen data. */
export type Policy = FixedWindowPolicy | SlidingWindowPolicy | TokenBucketPolicy

/** Stored state of a fixed window: the window index and the units used in it. */
export interface FixedWindowState {
  /** Index of the window: floor(epoch ms / windowMs). */
  window: number
  /** Units admitted in that window. */
  used: number
}

/** Stored state of a sliding window: the current window index, its usage and the previous window's. */
export interface SlidingWindowState {
  /** Index of the current window: floor(epoch ms / windowMs). */
  window: number
  /** Units admitted in the current window. */
  used: number
  /** Units admitted in the window before it. */
  previousUsed: number
}

/**
 * Stored state of a token bucket. Tokens are kept multiplied by `intervalMs` so that continuous
 * refill stays in exact integer arithmetic: `scaledTokens / intervalMs` tokens at `updatedAtMs`.
 */
export interface TokenBucketState {
  /** Tokens × intervalMs, an exact integer. */
  scaledTokens: number
  /** Epoch ms at which `scaledTokens` was measured. */
  updatedAtMs: number
  /**
   * Epoch ms at which the bucket was full again under the policy that wrote it: its counter's
   * expiry. After it the bucket counts as full under any policy (a tier's larger capacity too), as
   * the key has then expired in a Redis store, so a denial's `resetAtMs` and `retryAfterMs` reach
   * no later than 1 ms past it. Optional: a state without it refills as usual.
   */
  expiresAtMs?: number
}

/** The stored state of any policy. */
export type PolicyState = FixedWindowState | SlidingWindowState | TokenBucketState

/** One policy's answer for one request, as a store returns it. */
export interface PolicyOutcome {
  /** Whether this policy admits the request. */
  allowed: boolean
  /** Units left after this request (after charging it, if the whole request was admitted). */
  remaining: number
  /** Epoch ms at which this policy's quota is fully restored, given no further requests. */
  resetAtMs: number
  /** Ms until the same request would be admitted by this policy; 0 when allowed, Infinity when never. */
  retryAfterMs: number
}

/** The result of a reference transition: the outcome and, when admitted, the state to store. */
export interface Transition<S extends PolicyState = PolicyState> {
  /** The policy's answer to the request. */
  outcome: PolicyOutcome
  /** The state after charging the request; only meaningful when `outcome.allowed`. */
  next: S
  /** Epoch ms after which `next` carries no information and may be deleted. */
  expiresAtMs: number
}
