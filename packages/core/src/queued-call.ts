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
}

/**
 * One policy's outcome from the decision script's reply, at `reply[at]`: allowed (1 / 0),
 * remaining, resetAtMs - nowMs, retryAfterMs (-1 for an infinite one). Written into `out`.
 */
export function readOutcome(reply: readonly unknown[], at: number, nowMs: number, out: PolicyOutcome): void {
  const retryAfterMs = Number(reply[at + 3])
  out.allowed = reply[at] === 1 || reply[at] === '1'
  out.remaining = Number(reply[at + 1])
  out.resetAtMs = nowMs + Number(reply[at + 2])
  out.retryAfterMs = retryAfterMs === -1 ? Number.POSITIVE_INFINITY : retryAfterMs
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
