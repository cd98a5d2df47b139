import type { Policy, PolicyOutcome } from './policies/types.js'

/**
 * One decision asked of a store. The store evaluates every policy atomically and all-or-nothing
 * (see `evaluatePolicies`, the reference every store must match exactly).
 */
export interface StoreRequest {
  /** The limiter's namespace: 1 to 64 printable ASCII characters, no spaces or braces (validated). */
  readonly prefix: string
  /**
   * The identifier, already bounded by the limiter to `MAX_IDENTIFIER_LENGTH` (128) UTF-16 code
   * units; longer ones arrive as digests starting with NUL. Any string, including `*`, `{` or a lone
   * surrogate: key it by its code units as given (no byte encoding, normalisation or case folding).
   */
  readonly id: string
  /**
   * The policies of this request's tier, in order; names are unique within the list. Tiers may give
   * one name other limits (never another kind or period): read them from here on every call.
   */
  readonly policies: readonly Policy[]
  /** A positive safe integer. */
  readonly cost: number
  /** When true, compute the outcome as if charging but change nothing. */
  readonly peek: boolean
}

/** A store's answer: the time it decided at and one outcome per policy, in request order. */
export interface StoreResponse {
  /**
   * The store's clock at the decision (between the call and its answer), epoch ms. Headers' delta
   * seconds are computed from it.
   */
  nowMs: number
  /** One outcome per policy of the request, in the same order. */
  outcomes: PolicyOutcome[]
}

/** Which counters to delete: exactly `id`'s counters of these policies, never a pattern. */
export interface StoreResetRequest {
  /** The limiter's namespace. */
  readonly prefix: string
  /** The identifier, already bounded in length by the limiter. */
  readonly id: string
  /** Every policy of every tier: delete each one's counter for `id`. */
  readonly policies: readonly Policy[]
}

/**
 * The contract between the limiter and where counters live. Third-party stores implement these
 * members and run `runStoreConformance` from `@floodgate/core/testing` in their test suite.
 *
 * - Denied requests change no state; peeks change no state.
 * - Decisions equal `evaluatePolicies` on the same states, cost and clock.
 * - Concurrent `consume` calls on one identifier never admit more than the policies allow.
 * - Calls take effect in the order they are made, answered or not: a `reset` made after a `consume`
 *   applies after it, and a `consume` made after a `reset` counts.
 * - Errors are thrown (or rejected); the limiter applies its `timeout` and `onStoreError`.
 */
export interface RateLimitStore {
  /** A short name for messages and metrics, e.g. `"memory"`, `"redis"`. */
  readonly name: string
  /** True when the store lives in this process: the limiter then applies no deadline to its calls. */
  readonly local: boolean
  /** Decides on one request atomically and charges it when every policy admits it (unless `peek`). */
  consume(request: StoreRequest): StoreResponse | Promise<StoreResponse>
  /** Deletes exactly the counters named by the request. */
  reset(request: StoreResetRequest): void | Promise<void>
  /** Releases what the store owns (never a client the caller passed in). Idempotent. */
  close(): void | Promise<void>
}
