import { ERROR_CODES, FloodgateError } from './errors.js'
import type { Policy, PolicyOutcome } from './policies/types.js'

// The limiter's path into the Redis and Upstash stores, without importing them (a limiter on the
// memory store should not bundle the script store). Not part of the public API.

/**
 * A decision waiting on a store, answered by exactly one of its two methods. `respond` gets the
 * decision script's flat reply: its outcomes start at `reply[at]`, 4 values per policy (see
 * {@link readOutcome}).
 */
export interface QueuedCall {
  respond(reply: readonly unknown[], at: number, nowMs: number): void
  fail(error: unknown): void
  /**
   * The caller's deadline, `performance.now()` ms after which it answers the call itself (as a
   * store failure) and ignores the store: the store must not let the call count after it. Set
   * before the call is queued; absent or 0 for none.
   */
  readonly atMs?: number
  /** True once the call is answered, by the store or by the caller's deadline (absent: unknown). */
  readonly settled?: boolean
}

/**
 * One policy's outcome from the decision script's reply, at `reply[at]`: allowed (1 / 0),
 * remaining, resetAtMs - nowMs, retryAfterMs (-1 for an infinite one). Written into `out`.
 */
export function readOutcome(reply: readonly unknown[], at: number, nowMs: number, out: PolicyOutcome): void {
  const allowed = reply[at]
  const remaining = integer(reply[at + 1])
  const resetInMs = integer(reply[at + 2])
  const retryAfterMs = integer(reply[at + 3])
  // Anything else did not come from the script (a proxy's garbage, another program's keys): a store
  // failure, never a decision made of NaN.
  if (
    !(allowed === 1 || allowed === 0 || allowed === '1' || allowed === '0') ||
    !(remaining >= 0 && resetInMs >= 0 && (retryAfterMs >= 0 || retryAfterMs === -1)) ||
    !Number.isFinite(nowMs)
  ) {
    throw new FloodgateError(
      ERROR_CODES.STORE_ERROR,
      `The decision script answered ${JSON.stringify([nowMs, ...reply.slice(at, at + 4)])?.slice(0, 80)}; expected whole numbers. Is another program writing Floodgate's keys?`,
    )
  }
  out.allowed = allowed === 1 || allowed === '1'
  out.remaining = remaining
  out.resetAtMs = nowMs + resetInMs
  out.retryAfterMs = retryAfterMs === -1 ? Number.POSITIVE_INFINITY : retryAfterMs
}

/** A reply value as a whole number (Redis answers integers, as numbers or strings), else NaN. */
function integer(value: unknown): number {
  const n =
    typeof value === 'number' ? value : typeof value === 'string' && value !== '' ? Number(value) : Number.NaN
  return Number.isSafeInteger(n) ? n : Number.NaN
}

/** The method a store offers for queuing a decision's own call object (no promise per layer). */
export const SUBMIT = Symbol('floodgate.submit')

/** A store with the {@link SUBMIT} path. */
export interface SubmittingStore {
  /** Queues one decision, as `consume` would; throws at once when the store refuses to send. */
  [SUBMIT](
    prefix: string,
    id: string,
    policies: readonly Policy[],
    cost: number,
    peek: boolean,
    call: QueuedCall,
  ): void
}

/** The store itself when it offers the {@link SUBMIT} path; undefined for any other store. */
export function submittingStore(store: object): SubmittingStore | undefined {
  return typeof (store as Partial<SubmittingStore>)[SUBMIT] === 'function'
    ? (store as SubmittingStore)
    : undefined
}
