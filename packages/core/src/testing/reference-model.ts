import { counterName } from '../keys.js'
import { evaluatePolicies } from '../policies/evaluate.js'
import type { Policy, PolicyState } from '../policies/types.js'
import type { StoreRequest, StoreResetRequest, StoreResponse } from '../store.js'

/**
 * The pure reference every store is held to: `evaluatePolicies` over states kept in a plain Map,
 * keyed by (prefix, counterName(policy), identifier). It never expires anything: the transitions
 * already treat a stale window or a long-idle bucket exactly like a missing key.
 */
export interface ReferenceModel {
  /** The decision every store must give for `request` at `nowMs`, applied to the model's states. */
  consume(request: StoreRequest, nowMs: number): StoreResponse
  /** Deletes exactly the counters named by the request. */
  reset(request: StoreResetRequest): void
}

/** A fresh, empty {@link ReferenceModel}. */
export function referenceModel(): ReferenceModel {
  const states = new Map<string, PolicyState>()
  const keyOf = (prefix: string, policy: Policy, id: string) =>
    JSON.stringify([prefix, counterName(policy), id])
  return {
    consume(request, nowMs) {
      const keys = request.policies.map((p) => keyOf(request.prefix, p, request.id))
      const evaluation = evaluatePolicies(
        request.policies,
        keys.map((k) => states.get(k)),
        request.cost,
        nowMs,
      )
      if (evaluation.allowed && !request.peek) {
        keys.forEach((k, i) => {
          states.set(k, evaluation.transitions[i]!.next)
        })
      }
      return { nowMs, outcomes: evaluation.outcomes }
    },
    reset(request) {
      for (const p of request.policies) states.delete(keyOf(request.prefix, p, request.id))
    },
  }
}
