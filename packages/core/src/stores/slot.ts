import type { Policy, PolicyOutcome } from '../policies/types.js'

// A slot holds the counters of one (prefix, counterName(policy)). Window policies keep one Map per window
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
  /** Brings the slot's generations up to `nowMs`, freeing windows that have passed. */
  advance(nowMs: number): void
  /**
   * The policy's reference outcome for `id` at `nowMs` (after `advance(nowMs)`), written into `out`
   * straight from the stored counts, allocating nothing. Returns the value `commit` stores.
   */
  decide(policy: Policy, id: string, cost: number, nowMs: number, out: PolicyOutcome): number
  /** Stores what `decide` returned for an admitted request; a bucket's entry expires at `resetAtMs`. */
  commit(id: string, value: number, nowMs: number, resetAtMs: number): void
  /** How many new keys a write of `id` would add. */
  missing(id: string): number
  delete(id: string): void
  /**
   * Tries to free one key that is not currently limited, looking at no more than `budget` keys.
   * Never `keep`: the identifier being decided, whose counts its decision was made from.
   */
  evictOne(nowMs: number, budget: number, keep: string): { evicted: boolean; examined: number }
  /** Amortised clean-up of expired keys, a few at a time. */
  sweep(nowMs: number, budget: number): void
  /** Tightens the eviction rule to the strictest limit seen under this name (tiers may differ). */
  observe(policy: Policy): void
}

/**
 * A scan of a Map that resumes where it stopped. A Map iterator skips deleted entries one by one
 * until V8 compacts the table, so starting a fresh iterator on every call would cost O(keys deleted
 * since the last compaction): under a flood that made each eviction ~100 µs at 100,000 keys.
 * Resuming keeps each step O(1); starting over happens once per pass.
 */
export class Scan<V> {
  private map: Map<string, V> | undefined
  private iterator: Iterator<[string, V]> | undefined
  /** Deletions from the map since this scan last stepped (see `deleted`). */
  private idleDeletions = 0

  constructor(private readonly keys: KeyCounter) {}

  /** The next entry of `map` after the last one returned, starting over once the end is reached. */
  next(map: Map<string, V>): [string, V] | undefined {
    this.idleDeletions = 0
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

  /**
   * Counts a deletion from the map; once as many have been made as the map holds while this scan
   * stood still, its iterator is let go. An iterator holds the table it started on, and V8 links
   * each table it rebuilds (as deletions leave holes) to the next: an eviction scan idle while the
   * store churns below `maxKeys` kept that chain, and every entry in it, for good (131 bytes per new
   * identifier, measured). Starting over costs one walk over the map per such release.
   */
  deleted(size: number): void {
    if (this.iterator !== undefined && ++this.idleDeletions > size) this.forget()
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
