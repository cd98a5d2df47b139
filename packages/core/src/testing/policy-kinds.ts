import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy, PolicyKind } from '../policies/types.js'

/** The window of the window policies and the refill interval of the bucket, in every case. */
export const PERIOD_MS = 10_000

export interface PolicyKindCase {
  kind: PolicyKind
  /** A policy of this kind with the given name and quota (limit or capacity) over PERIOD_MS or `periodMs`. */
  make(name: string, quota: number, periodMs?: number): Policy
}

// Ten-second periods keep a store's real-time TTLs (if it derives them from the injected clock)
// far longer than any case runs.
export const POLICY_KINDS: readonly PolicyKindCase[] = [
  { kind: 'fixed-window', make: (name, limit, window = PERIOD_MS) => fixedWindow({ name, limit, window }) },
  {
    kind: 'sliding-window',
    make: (name, limit, window = PERIOD_MS) => slidingWindow({ name, limit, window }),
  },
  {
    kind: 'token-bucket',
    // Two tokens per period: a partial refill shows within one period, a full one takes several.
    make: (name, capacity, interval = PERIOD_MS) => tokenBucket({ name, capacity, refillRate: 2, interval }),
  },
]

/** A policy's quota: the limit of a window, the capacity of a bucket. */
export function quotaOf(policy: Policy): number {
  return policy.kind === 'token-bucket' ? policy.capacity : policy.limit
}
