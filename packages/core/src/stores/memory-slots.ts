import { ERROR_CODES, FloodgateError } from '../errors.js'
import { slidingWindowTransition } from '../policies/sliding-window.js'
import type {
  FixedWindowPolicy,
  Policy,
  PolicyState,
  SlidingWindowPolicy,
  SlidingWindowState,
  TokenBucketPolicy,
  TokenBucketState,
} from '../policies/types.js'

// A slot holds the counters of one (prefix, policy name). Window policies keep one Map per window
// generation, of plain integer counts: a whole window is freed at once when time moves past it,
// with no per-key timer and no scan. Token buckets keep one Map of small records swept a few at a
// time on each call.

/** Shared bookkeeping: the store-wide key count that `maxKeys` bounds. */
export interface KeyCounter {
  size: number
}

export interface Slot {
  readonly kind: Policy['kind']
  readonly periodMs: number
  /** Brings the slot's generations up to `nowMs`, freeing windows that have passed. */
  advance(nowMs: number): void
  read(id: string, nowMs: number): PolicyState | undefined
  /** How many new keys a write of `id` would add. */
  missing(id: string): number
  write(id: string, next: PolicyState, expiresAtMs: number): void
  delete(id: string): void
  /** Tries to free one key that is not currently limited, looking at no more than `budget` keys. */
  evictOne(nowMs: number, budget: number): { evicted: boolean; examined: number }
  /** Amortised clean-up of expired keys, a few at a time. */
  sweep(nowMs: number, budget: number): void
  /** Tightens the eviction rule to the strictest limit seen under this name (tiers may differ). */
  observe(policy: Policy): void
}

export function createSlot(policy: Policy, keys: KeyCounter): Slot {
  switch (policy.kind) {
    case 'fixed-window':
      return new FixedSlot(policy, keys)
    case 'sliding-window':
      return new SlidingSlot(policy, keys)
    case 'token-bucket':
      return new BucketSlot(policy, keys)
  }
}

/** Throws when a store already holds a counter of that name with another kind or period. */
export function assertCompatible(slot: Slot, policy: Policy, prefix: string): void {
  const periodMs = policy.kind === 'token-bucket' ? policy.intervalMs : policy.windowMs
  if (slot.kind !== policy.kind || slot.periodMs !== periodMs) {
    throw new FloodgateError(
      ERROR_CODES.POLICY_CONFLICT,
      `Policy "${policy.name}" under prefix "${prefix}" is a ${policy.kind} of ${periodMs} ms, but this store already counts "${policy.name}" as a ${slot.kind} of ${slot.periodMs} ms. Give one of them another name or prefix.`,
      { option: 'policies', value: policy.name },
    )
  }
}

/** Moves `id` to the back of `map`'s iteration order so the next scan starts elsewhere. */
function rotate<V>(map: Map<string, V>, id: string, value: V): void {
  map.delete(id)
  map.set(id, value)
}

class FixedSlot implements Slot {
  readonly kind = 'fixed-window'
  readonly periodMs: number
  private window = Number.NEGATIVE_INFINITY
  private current = new Map<string, number>()
  private minLimit: number

  constructor(
    policy: FixedWindowPolicy,
    private readonly keys: KeyCounter,
  ) {
    this.periodMs = policy.windowMs
    this.minLimit = policy.limit
  }

  observe(policy: Policy): void {
    if ((policy as FixedWindowPolicy).limit < this.minLimit)
      this.minLimit = (policy as FixedWindowPolicy).limit
  }

  advance(nowMs: number): void {
    const window = Math.floor(nowMs / this.periodMs)
    if (window <= this.window) return
    this.keys.size -= this.current.size
    if (this.current.size > 0) this.current = new Map()
    this.window = window
  }

  read(id: string): PolicyState | undefined {
    const used = this.current.get(id)
    return used === undefined ? undefined : { window: this.window, used }
  }

  missing(id: string): number {
    return this.current.has(id) ? 0 : 1
  }

  write(id: string, next: PolicyState): void {
    // One hash lookup instead of has() + set(): the map grew iff the key is new.
    const before = this.current.size
    this.current.set(id, (next as { used: number }).used)
    this.keys.size += this.current.size - before
  }

  delete(id: string): void {
    if (this.current.delete(id)) this.keys.size -= 1
  }

  evictOne(_nowMs: number, budget: number): { evicted: boolean; examined: number } {
    let examined = 0
    for (const [id, used] of this.current) {
      if (examined >= budget) break
      examined += 1
      if (used < this.minLimit) {
        this.delete(id)
        return { evicted: true, examined }
      }
      rotate(this.current, id, used)
    }
    return { evicted: false, examined }
  }

  sweep(): void {}
}

class SlidingSlot implements Slot {
  readonly kind = 'sliding-window'
  readonly periodMs: number
  private window = Number.NEGATIVE_INFINITY
  private current = new Map<string, number>()
  private previous = new Map<string, number>()
  private strictest: SlidingWindowPolicy

  constructor(
    policy: SlidingWindowPolicy,
    private readonly keys: KeyCounter,
  ) {
    this.periodMs = policy.windowMs
    this.strictest = policy
  }

  observe(policy: Policy): void {
    if ((policy as SlidingWindowPolicy).limit < this.strictest.limit)
      this.strictest = policy as SlidingWindowPolicy
  }

  advance(nowMs: number): void {
    const window = Math.floor(nowMs / this.periodMs)
    if (window <= this.window) return
    this.keys.size -= this.previous.size
    if (window === this.window + 1) {
      this.previous = this.current
    } else {
      this.keys.size -= this.current.size
      this.previous = new Map()
    }
    this.current = new Map()
    this.window = window
  }

  read(id: string): PolicyState | undefined {
    const used = this.current.get(id)
    const previousUsed = this.previous.get(id)
    if (used === undefined && previousUsed === undefined) return undefined
    return { window: this.window, used: used ?? 0, previousUsed: previousUsed ?? 0 }
  }

  missing(id: string): number {
    return this.current.has(id) ? 0 : 1
  }

  write(id: string, next: PolicyState): void {
    const before = this.current.size
    this.current.set(id, (next as { used: number }).used)
    this.keys.size += this.current.size - before
  }

  delete(id: string): void {
    if (this.current.delete(id)) this.keys.size -= 1
    if (this.previous.delete(id)) this.keys.size -= 1
  }

  evictOne(nowMs: number, budget: number): { evicted: boolean; examined: number } {
    let examined = 0
    for (const map of [this.previous, this.current]) {
      // A rotated key comes round again in the same iteration: visit each key once, or a few limited
      // keys in `previous` would use up the whole budget and `current` would never be examined.
      let unvisited = map.size
      for (const [id, value] of map) {
        if (unvisited-- === 0) break
        if (examined >= budget) return { evicted: false, examined }
        examined += 1
        // Evictable only if even the strictest tier would still admit one more unit now.
        if (
          slidingWindowTransition(this.strictest, this.read(id) as SlidingWindowState | undefined, 1, nowMs)
            .outcome.allowed
        ) {
          this.delete(id)
          return { evicted: true, examined }
        }
        rotate(map, id, value)
      }
    }
    return { evicted: false, examined }
  }

  sweep(): void {}
}

interface BucketEntry extends TokenBucketState {
  expiresAtMs: number
}

class BucketSlot implements Slot {
  readonly kind = 'token-bucket'
  readonly periodMs: number
  private readonly buckets = new Map<string, BucketEntry>()
  private cursor: Iterator<[string, BucketEntry]> | undefined

  constructor(
    policy: TokenBucketPolicy,
    private readonly keys: KeyCounter,
  ) {
    this.periodMs = policy.intervalMs
  }

  observe(): void {}

  advance(): void {}

  read(id: string): PolicyState | undefined {
    return this.buckets.get(id)
  }

  missing(id: string): number {
    return this.buckets.has(id) ? 0 : 1
  }

  write(id: string, next: PolicyState, expiresAtMs: number): void {
    const { scaledTokens, updatedAtMs } = next as TokenBucketState
    const entry = this.buckets.get(id)
    if (entry === undefined) {
      this.keys.size += 1
      this.buckets.set(id, { scaledTokens, updatedAtMs, expiresAtMs })
    } else {
      entry.scaledTokens = scaledTokens
      entry.updatedAtMs = updatedAtMs
      entry.expiresAtMs = expiresAtMs
    }
  }

  delete(id: string): void {
    if (this.buckets.delete(id)) this.keys.size -= 1
  }

  evictOne(nowMs: number, budget: number): { evicted: boolean; examined: number } {
    let examined = 0
    for (const [id, entry] of this.buckets) {
      if (examined >= budget) break
      examined += 1
      // A bucket holding at least one token (before refill, so at least that now) is not limited.
      if (entry.expiresAtMs <= nowMs || entry.scaledTokens >= this.periodMs) {
        this.delete(id)
        return { evicted: true, examined }
      }
      rotate(this.buckets, id, entry)
    }
    return { evicted: false, examined }
  }

  sweep(nowMs: number, budget: number): void {
    // A full bucket carries no information: delete buckets whose refill has completed.
    for (let i = 0; i < budget; i++) {
      this.cursor ??= this.buckets.entries()
      const step = this.cursor.next()
      if (step.done) {
        this.cursor = undefined
        return
      }
      const [id, entry] = step.value
      if (entry.expiresAtMs <= nowMs) this.delete(id)
    }
  }
}
