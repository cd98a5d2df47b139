import { boundByExpiry, keptUntil, refilledScaledTokens, tokenBucketStep } from '../policies/token-bucket.js'
import type { Policy, PolicyOutcome, TokenBucketPolicy, TokenBucketState } from '../policies/types.js'
import { type KeyCounter, Scan, type Slot } from './slot.js'

interface BucketEntry extends TokenBucketState {
  expiresAtMs: number
}

/** Keys a new bucket's arrival sweeps, on top of the store's rotation: more than the one it adds. */
const GROWTH_SWEEP = 2

export class BucketSlot implements Slot {
  readonly periodMs: number
  private readonly buckets = new Map<string, BucketEntry>()
  private readonly evictScan: Scan<BucketEntry>
  private readonly sweepScan: Scan<BucketEntry>
  /** The policy of the last decide(), which the commit that follows it stores under (tiers vary it). */
  private decided: TokenBucketPolicy

  constructor(
    policy: TokenBucketPolicy,
    private readonly keys: KeyCounter,
  ) {
    this.decided = policy
    this.periodMs = policy.intervalMs
    this.evictScan = new Scan(keys)
    this.sweepScan = new Scan(keys)
  }

  observe(): void {}

  advance(): void {}

  decide(policy: Policy, id: string, cost: number, nowMs: number, out: PolicyOutcome): number {
    const bucket = policy as TokenBucketPolicy
    this.decided = bucket
    const { capacity, refillRate, intervalMs } = bucket
    // The entry is the reference's state: past its expiry, a full bucket under any capacity.
    const entry = this.buckets.get(id)
    const available = refilledScaledTokens(bucket, entry, nowMs)
    const after = tokenBucketStep(capacity, refillRate, intervalMs, available, cost, nowMs, out)
    if (!out.allowed && entry !== undefined) boundByExpiry(out, entry.expiresAtMs, nowMs)
    return after
  }

  commit(id: string, value: number, nowMs: number, resetAtMs: number): void {
    this.put(id, value, nowMs, resetAtMs)
  }

  missing(id: string): number {
    return this.buckets.has(id) ? 0 : 1
  }

  private put(id: string, scaledTokens: number, updatedAtMs: number, expiresAtMs: number): void {
    const entry = this.buckets.get(id)
    if (entry === undefined) {
      this.keys.size += 1
      this.buckets.set(id, { scaledTokens, updatedAtMs, expiresAtMs })
      // Sweep where the map grows, faster than it grows: the store's rotation gives each slot a few
      // looks per call shared among all slots, and a scan that only keeps pace with new keys meets
      // them young and never comes back round to the old ones.
      this.sweep(updatedAtMs, GROWTH_SWEEP)
    } else {
      // Kept as long as a larger capacity that charged it needs (see keptUntil), read before the
      // entry changes; `decided` is the policy of the decide() this commit follows.
      entry.expiresAtMs = keptUntil(this.decided, entry, scaledTokens, updatedAtMs, expiresAtMs)
      entry.scaledTokens = scaledTokens
      entry.updatedAtMs = updatedAtMs
    }
  }

  delete(id: string): void {
    if (!this.buckets.delete(id)) return
    this.keys.size -= 1
    this.evictScan.deleted(this.buckets.size)
    this.sweepScan.deleted(this.buckets.size)
  }

  evictOne(nowMs: number, budget: number, keep: string): { evicted: boolean; examined: number } {
    const limit = Math.min(budget, this.buckets.size)
    for (let examined = 1; examined <= limit; examined++) {
      const [id, entry] = this.evictScan.next(this.buckets)!
      // A bucket holding at least one token (before refill, so at least that now) is not limited,
      // nor one past its expiry (strictly after it, as the reference reads it): it reads as full.
      if (id !== keep && (entry.expiresAtMs < nowMs || entry.scaledTokens >= this.periodMs)) {
        this.delete(id)
        return { evicted: true, examined }
      }
    }
    return { evicted: false, examined: limit }
  }

  sweep(nowMs: number, budget: number): void {
    // A full bucket carries no information: delete buckets that have been full for a whole
    // interval. Not as soon as they fill: a key coming back about as often as its bucket refills
    // would have its entry deleted and built again on every visit (at 100,000 keys round-robin that
    // churn tripled the time per decision, most of it in the garbage collector). Under maxKeys
    // pressure `evictOne` still takes a full bucket at once.
    const limit = Math.min(budget, this.buckets.size)
    for (let i = 0; i < limit; i++) {
      const [id, entry] = this.sweepScan.next(this.buckets)!
      if (entry.expiresAtMs + this.periodMs <= nowMs) this.delete(id)
    }
  }
}
