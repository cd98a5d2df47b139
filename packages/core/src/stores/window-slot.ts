import type { KeyCounter } from './slot.js'

/**
 * What the fixed and the sliding window slots share: counts of the current window in one Map of
 * small integers, replaced whole when time moves into a later window.
 */
export abstract class WindowSlot {
  readonly periodMs: number
  protected window = Number.NEGATIVE_INFINITY
  /** Start of the window after `window`: until then `advance` has nothing to do (no division). */
  private nextWindowMs = Number.NEGATIVE_INFINITY
  protected current = new Map<string, number>()

  constructor(
    periodMs: number,
    protected readonly keys: KeyCounter,
  ) {
    this.periodMs = periodMs
  }

  advance(nowMs: number): void {
    // Every decision calls this; the rare move to a later window stays out of line, so that V8,
    // which inlines a bounded amount of code into one function, fits more of the decision path.
    if (nowMs >= this.nextWindowMs) this.moveTo(nowMs)
  }

  private moveTo(nowMs: number): void {
    const window = Math.floor(nowMs / this.periodMs)
    if (window <= this.window) return
    this.nextWindowMs = (window + 1) * this.periodMs
    this.rollOver(window)
    this.window = window
  }

  /** Lets go of the generations that moving from `this.window` to `window` leaves behind. */
  protected abstract rollOver(window: number): void

  commit(id: string, value: number): void {
    // One hash lookup instead of has() + set(): the map grew iff the key is new.
    const before = this.current.size
    this.current.set(id, value)
    this.keys.size += this.current.size - before
  }

  missing(id: string): number {
    return this.current.has(id) ? 0 : 1
  }

  sweep(): void {}
}
