import { ERROR_CODES, FloodgateError } from '../errors.js'
import { fixedWindowStep } from '../policies/fixed-window.js'
import { slidingWindowStep, slidingWindowTransition } from '../policies/sliding-window.js'
import { refilledScaled, tokenBucketStep } from '../policies/token-bucket.js'
import type {
  FixedWindowPolicy,
  FixedWindowState,
  Policy,
  PolicyOutcome,
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

/** Shared bookkeeping: the store-wide key count that `maxKeys` bounds, and scan statistics. */
export interface KeyCounter {
  size: number
  /** Keys looked at by eviction and sweeping, in total. */
  examined: number
  /**
   * Keys passed again by scans that started over from a map's first entry (the map's size each
   * time): the cost of a fresh iterator that `examined` does not show.
   */
  rescanned: number
}

export interface Slot {
  readonly kind: Policy['kind']
  readonly periodMs: number
  /** Brings the slot's generations up to `nowMs`, freeing windows that have passed. */
  advance(nowMs: number): void
  read(id: string, nowMs: number): PolicyState | undefined
  /**
   * The policy's reference outcome for `id` at `nowMs` (after `advance(nowMs)`), written into `out`
   * straight from the stored counts, allocating nothing. Returns the value `commit` stores.
   */
  decide(policy: Policy, id: string, cost: number, nowMs: number, out: PolicyOutcome): number
  /** Stores what `decide` returned for an admitted request; a bucket's entry expires at `resetAtMs`. */
  commit(id: string, value: number, nowMs: number, resetAtMs: number): void
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

/**
 * A scan of a Map that resumes where it stopped. A Map iterator skips deleted entries one by one
 * until V8 compacts the table, so starting a fresh iterator on every call would cost O(keys deleted
 * since the last compaction): under a flood that made each eviction ~100 µs at 100,000 keys.
 * Resuming keeps each step O(1); starting over happens once per pass.
 */
class Scan<V> {
  private map: Map<string, V> | undefined
  private iterator: Iterator<[string, V]> | undefined

  constructor(private readonly keys: KeyCounter) {}

  /** The next entry of `map` after the last one returned, starting over once the end is reached. */
  next(map: Map<string, V>): [string, V] | undefined {
    if (this.map !== map || this.iterator === undefined) this.restart(map)
    let step = this.iterator!.next()
    if (step.done) {
      this.restart(map)
      step = this.iterator!.next()
      if (step.done) return undefined
    }
    this.keys.examined += 1
    return step.value
  }

  /** Lets go of a map that was replaced (a passed window), so it can be collected. */
  forget(): void {
    this.map = undefined
    this.iterator = undefined
  }

  private restart(map: Map<string, V>): void {
    this.map = map
    this.iterator = map.entries()
    this.keys.rescanned += map.size
  }
}

class FixedSlot implements Slot {
  readonly kind = 'fixed-window'
  readonly periodMs: number
  private window = Number.NEGATIVE_INFINITY
  /** Start of the window after `window`: until then `advance` has nothing to do (no division). */
  private nextWindowMs = Number.NEGATIVE_INFINITY
  private current = new Map<string, number>()
  private minLimit: number
  private readonly scan: Scan<number>

  constructor(
    policy: FixedWindowPolicy,
    private readonly keys: KeyCounter,
  ) {
    this.periodMs = policy.windowMs
    this.minLimit = policy.limit
    this.scan = new Scan(keys)
  }

  observe(policy: Policy): void {
    if ((policy as FixedWindowPolicy).limit < this.minLimit)
      this.minLimit = (policy as FixedWindowPolicy).limit
  }

  advance(nowMs: number): void {
    if (nowMs < this.nextWindowMs) return
    const window = Math.floor(nowMs / this.periodMs)
    if (window <= this.window) return
    this.nextWindowMs = (window + 1) * this.periodMs
    this.keys.size -= this.current.size
    if (this.current.size > 0) this.current = new Map()
    this.scan.forget()
    this.window = window
  }

  read(id: string): PolicyState | undefined {
    const used = this.current.get(id)
    return used === undefined ? undefined : { window: this.window, used }
  }

  decide(policy: Policy, id: string, cost: number, nowMs: number, out: PolicyOutcome): number {
    const used = this.current.get(id)
    const { limit } = policy as FixedWindowPolicy
    return fixedWindowStep(limit, this.periodMs, this.window, used === undefined ? 0 : used, cost, nowMs, out)
  }

  commit(id: string, value: number): void {
    // One hash lookup instead of has() + set(): the map grew iff the key is new.
    const before = this.current.size
    this.current.set(id, value)
    this.keys.size += this.current.size - before
  }

  missing(id: string): number {
    return this.current.has(id) ? 0 : 1
  }

  write(id: string, next: PolicyState): void {
    this.commit(id, (next as FixedWindowState).used)
  }

  delete(id: string): void {
    if (this.current.delete(id)) this.keys.size -= 1
  }

  evictOne(_nowMs: number, budget: number): { evicted: boolean; examined: number } {
    // Each key at most once per call: a limited key is passed over, not moved.
    const limit = Math.min(budget, this.current.size)
    for (let examined = 1; examined <= limit; examined++) {
      const [id, used] = this.scan.next(this.current)!
      if (used < this.minLimit) {
        this.delete(id)
        return { evicted: true, examined }
      }
    }
    return { evicted: false, examined: limit }
  }

  sweep(): void {}
}

class SlidingSlot implements Slot {
  readonly kind = 'sliding-window'
  readonly periodMs: number
  private window = Number.NEGATIVE_INFINITY
  /** Start of the window after `window`: until then `advance` has nothing to do (no division). */
  private nextWindowMs = Number.NEGATIVE_INFINITY
  private current = new Map<string, number>()
  private previous = new Map<string, number>()
  private strictest: SlidingWindowPolicy
  private readonly previousScan: Scan<number>
  private readonly currentScan: Scan<number>

  constructor(
    policy: SlidingWindowPolicy,
    private readonly keys: KeyCounter,
  ) {
    this.periodMs = policy.windowMs
    this.strictest = policy
    this.previousScan = new Scan(keys)
    this.currentScan = new Scan(keys)
  }

  observe(policy: Policy): void {
    if ((policy as SlidingWindowPolicy).limit < this.strictest.limit)
      this.strictest = policy as SlidingWindowPolicy
  }

  advance(nowMs: number): void {
    if (nowMs < this.nextWindowMs) return
    const window = Math.floor(nowMs / this.periodMs)
    if (window <= this.window) return
    this.nextWindowMs = (window + 1) * this.periodMs
    this.keys.size -= this.previous.size
    if (window === this.window + 1) {
      this.previous = this.current
    } else {
      this.keys.size -= this.current.size
      this.previous = new Map()
    }
    this.current = new Map()
    this.previousScan.forget()
    this.currentScan.forget()
    this.window = window
  }

  read(id: string): PolicyState | undefined {
    const used = this.current.get(id)
    const previousUsed = this.previous.get(id)
    if (used === undefined && previousUsed === undefined) return undefined
    return { window: this.window, used: used ?? 0, previousUsed: previousUsed ?? 0 }
  }

  decide(policy: Policy, id: string, cost: number, nowMs: number, out: PolicyOutcome): number {
    const used = this.current.get(id)
    const previousUsed = this.previous.get(id)
    return slidingWindowStep(
      (policy as SlidingWindowPolicy).limit,
      this.periodMs,
      this.window,
      used === undefined ? 0 : used,
      previousUsed === undefined ? 0 : previousUsed,
      cost,
      nowMs,
      out,
    )
  }

  commit(id: string, value: number): void {
    const before = this.current.size
    this.current.set(id, value)
    this.keys.size += this.current.size - before
  }

  missing(id: string): number {
    return this.current.has(id) ? 0 : 1
  }

  write(id: string, next: PolicyState): void {
    this.commit(id, (next as SlidingWindowState).used)
  }

  delete(id: string): void {
    if (this.current.delete(id)) this.keys.size -= 1
    if (this.previous.delete(id)) this.keys.size -= 1
  }

  evictOne(nowMs: number, budget: number): { evicted: boolean; examined: number } {
    let examined = 0
    // Each key at most once per call, `previous` first, so a few limited keys there cannot use up
    // the whole budget before `current` is looked at.
    for (const [map, scan] of [
      [this.previous, this.previousScan],
      [this.current, this.currentScan],
    ] as const) {
      const limit = Math.min(budget - examined, map.size)
      for (let i = 0; i < limit; i++) {
        const [id] = scan.next(map)!
        examined += 1
        // Evictable only if even the strictest tier would still admit one more unit now.
        if (
          slidingWindowTransition(this.strictest, this.read(id) as SlidingWindowState | undefined, 1, nowMs)
            .outcome.allowed
        ) {
          this.delete(id)
          return { evicted: true, examined }
        }
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
  private readonly evictScan: Scan<BucketEntry>
  private readonly sweepScan: Scan<BucketEntry>

  constructor(
    policy: TokenBucketPolicy,
    private readonly keys: KeyCounter,
  ) {
    this.periodMs = policy.intervalMs
    this.evictScan = new Scan(keys)
    this.sweepScan = new Scan(keys)
  }

  observe(): void {}

  advance(): void {}

  read(id: string): PolicyState | undefined {
    return this.buckets.get(id)
  }

  decide(policy: Policy, id: string, cost: number, nowMs: number, out: PolicyOutcome): number {
    const { capacity, refillRate, intervalMs } = policy as TokenBucketPolicy
    const full = capacity * intervalMs
    const entry = this.buckets.get(id)
    const available =
      entry === undefined
        ? full
        : refilledScaled(full, refillRate, entry.scaledTokens, entry.updatedAtMs, nowMs)
    return tokenBucketStep(capacity, refillRate, intervalMs, available, cost, nowMs, out)
  }

  commit(id: string, value: number, nowMs: number, resetAtMs: number): void {
    this.put(id, value, nowMs, resetAtMs)
  }

  missing(id: string): number {
    return this.buckets.has(id) ? 0 : 1
  }

  write(id: string, next: PolicyState, expiresAtMs: number): void {
    const { scaledTokens, updatedAtMs } = next as TokenBucketState
    this.put(id, scaledTokens, updatedAtMs, expiresAtMs)
  }

  private put(id: string, scaledTokens: number, updatedAtMs: number, expiresAtMs: number): void {
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
    const limit = Math.min(budget, this.buckets.size)
    for (let examined = 1; examined <= limit; examined++) {
      const [id, entry] = this.evictScan.next(this.buckets)!
      // A bucket holding at least one token (before refill, so at least that now) is not limited.
      if (entry.expiresAtMs <= nowMs || entry.scaledTokens >= this.periodMs) {
        this.delete(id)
        return { evicted: true, examined }
      }
    }
    return { evicted: false, examined: limit }
  }

  sweep(nowMs: number, budget: number): void {
    // A full bucket carries no information: delete buckets whose refill has completed.
    const limit = Math.min(budget, this.buckets.size)
    for (let i = 0; i < limit; i++) {
      const [id, entry] = this.sweepScan.next(this.buckets)!
      if (entry.expiresAtMs <= nowMs) this.delete(id)
    }
  }
}
