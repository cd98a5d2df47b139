import type { FloodgateError } from './errors.js'
import type { Policy, PolicyKind, PolicyOutcome } from './policies/types.js'

/**
 * Why a decision came out as it did.
 * - `allowed`: every policy admits the request.
 * - `limited`: a policy denies it; `retryAfterMs` says when the same request would pass.
 * - `cost-exceeds-limit`: the cost is larger than a policy's limit or capacity; it can never pass.
 * - `shadow-limited`: mode `shadow`: a policy would have denied it; it was admitted and not charged.
 * - `store-error`: the store failed or timed out (`error` says which); `allowed` follows `onStoreError`.
 */
export type DecisionReason = 'allowed' | 'limited' | 'cost-exceeds-limit' | 'shadow-limited' | 'store-error'

/** One policy's part of a decision. */
export interface PolicyDecision extends PolicyOutcome {
  /** The policy's name, as in headers (`"burst"`). */
  name: string
  /** Which algorithm the policy runs. */
  kind: PolicyKind
  /** The quota: `limit` of a window policy, `capacity` of a token bucket. */
  limit: number
  /** The policy window (`windowMs`) or refill interval (`intervalMs`), in ms. */
  windowMs: number
}

/** The answer to `limit()` or `peek()`. Every number is an integer unless it says otherwise. */
export interface Decision {
  /** Whether to serve the request. */
  allowed: boolean
  /** Quota of the binding policy (0 on a store error). */
  limit: number
  /** Units the binding policy has left after this request (0 on a store error). */
  remaining: number
  /** Epoch ms at which the binding policy's quota is fully restored. */
  resetAtMs: number
  /**
   * Ms until the same request would be admitted; `Infinity` when it never can (a cost above a limit;
   * `JSON.stringify` writes it as `null`). 0 when allowed, and on a store error, where no wait is
   * known: back off on your own. A `shadow-limited` decision, admitted, carries the wait an
   * enforcing limiter would have given.
   */
  retryAfterMs: number
  /** Name of the binding policy: the denying one with the longest wait, else the one with least remaining. */
  policy: string
  /** The tier whose policies applied, or undefined when the limiter has no tiers. */
  tier: string | undefined
  /** Why the decision came out as it did; see {@link DecisionReason}. */
  reason: DecisionReason
  /** The cost charged (or that would have been). */
  cost: number
  /** The store's clock at the decision, epoch ms. */
  nowMs: number
  /** Every policy's own result, in configuration order (empty on a store error). */
  policies: PolicyDecision[]
  /** The store failure behind a `store-error` decision. */
  error?: FloodgateError
}

/** The index of the binding policy among `outcomes`. */
export function bindingIndex(outcomes: readonly PolicyOutcome[]): number {
  let best = 0
  let bestDenied = false
  for (let i = 0; i < outcomes.length; i++) {
    const o = outcomes[i]!
    const b = outcomes[best]!
    if (!o.allowed) {
      if (!bestDenied || o.retryAfterMs > b.retryAfterMs) {
        best = i
        bestDenied = true
      }
    } else if (!bestDenied && o.remaining < b.remaining) {
      best = i
    }
  }
  return best
}

export function describePolicy(policy: Policy, outcome: PolicyOutcome): PolicyDecision {
  return {
    name: policy.name,
    kind: policy.kind,
    limit: policy.kind === 'token-bucket' ? policy.capacity : policy.limit,
    windowMs: policy.kind === 'token-bucket' ? policy.intervalMs : policy.windowMs,
    allowed: outcome.allowed,
    remaining: outcome.remaining,
    resetAtMs: outcome.resetAtMs,
    retryAfterMs: outcome.retryAfterMs,
  }
}
