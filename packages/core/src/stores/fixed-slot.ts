import { fixedWindowStep } from '../policies/fixed-window.js'
import type { FixedWindowPolicy, Policy, PolicyOutcome } from '../policies/types.js'
import { type KeyCounter, Scan, type Slot } from './slot.js'
import { WindowSlot } from './window-slot.js'

/** Counters of a fixed window: one Map of counts for the current window. */
export class FixedSlot extends WindowSlot implements Slot {
  private minLimit: number
  private readonly scan: Scan<number>

  constructor(policy: FixedWindowPolicy, keys: KeyCounter) {
    super(policy.windowMs, keys)
    this.minLimit = policy.limit
    this.scan = new Scan(keys)
  }

  observe(policy: Policy): void {
    if ((policy as FixedWindowPolicy).limit < this.minLimit)
      this.minLimit = (policy as FixedWindowPolicy).limit
  }

  protected rollOver(): void {
    this.keys.size -= this.current.size
    if (this.current.size > 0) this.current = new Map()
    this.scan.forget()
  }

  decide(policy: Policy, id: string, cost: number, nowMs: number, out: PolicyOutcome): number {
    const used = this.current.get(id)
    const { limit } = policy as FixedWindowPolicy
    return fixedWindowStep(limit, this.periodMs, this.window, used === undefined ? 0 : used, cost, nowMs, out)
  }

  delete(id: string): void {
    if (!this.current.delete(id)) return
    this.keys.size -= 1
    this.scan.deleted(this.current.size)
  }

  evictOne(_nowMs: number, budget: number, keep: string): { evicted: boolean; examined: number } {
    // Each key at most once per call: a limited key is passed over, not moved.
    const limit = Math.min(budget, this.current.size)
    for (let examined = 1; examined <= limit; examined++) {
      const [id, used] = this.scan.next(this.current)!
      if (used < this.minLimit && id !== keep) {
        this.delete(id)
        return { evicted: true, examined }
      }
    }
    return { evicted: false, examined: limit }
  }
}
