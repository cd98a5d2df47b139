import { slidingWindowStep, slidingWindowTransition } from '../policies/sliding-window.js'
import type { Policy, PolicyOutcome, SlidingWindowPolicy, SlidingWindowState } from '../policies/types.js'
import { type KeyCounter, Scan, type Slot } from './slot.js'
import { WindowSlot } from './window-slot.js'

/** Counters of a sliding window: the current window's counts and the previous window's. */
export class SlidingSlot extends WindowSlot implements Slot {
  private previous = new Map<string, number>()
  private strictest: SlidingWindowPolicy
  private readonly previousScan: Scan<number>
  private readonly currentScan: Scan<number>

  constructor(policy: SlidingWindowPolicy, keys: KeyCounter) {
    super(policy.windowMs, keys)
    this.strictest = policy
    this.previousScan = new Scan(keys)
    this.currentScan = new Scan(keys)
  }

  observe(policy: Policy): void {
    if ((policy as SlidingWindowPolicy).limit < this.strictest.limit)
      this.strictest = policy as SlidingWindowPolicy
  }

  protected rollOver(window: number): void {
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
  }

  /** The stored state of `id`, for eviction's check against the reference transition. */
  private read(id: string): SlidingWindowState | undefined {
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

  delete(id: string): void {
    if (this.current.delete(id)) {
      this.keys.size -= 1
      this.currentScan.deleted(this.current.size)
    }
    if (this.previous.delete(id)) {
      this.keys.size -= 1
      this.previousScan.deleted(this.previous.size)
    }
  }

  evictOne(nowMs: number, budget: number, keep: string): { evicted: boolean; examined: number } {
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
        if (id !== keep && slidingWindowTransition(this.strictest, this.read(id), 1, nowMs).outcome.allowed) {
          this.delete(id)
          return { evicted: true, examined }
        }
      }
    }
    return { evicted: false, examined }
  }
}
