import type { Policy } from './policies/types.js'
import type { StoreResponse } from './store.js'

// The limiter's path into the Redis and Upstash stores, without importing them (a limiter on the
// memory store should not bundle the script store). Not part of the public API.

/** A decision waiting on a store, answered by exactly one of its two methods. */
export interface QueuedCall {
  respond(response: StoreResponse): void
  fail(error: unknown): void
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
