// A yardstick for the decisions bench, not a library: the least code that answers one fixed-window
// request with the Decision that Floodgate's contract returns (its fields and its one PolicyDecision,
// in a promise). It keeps one Map of counts per window, reads the wall clock once and does one
// Map read and one write, with no validation, no store interface, no bound on keys, no sweeping and
// no monotonic clock. Floodgate can only approach it; how close it comes, and where the peers stand
// against it, is what the row shows.
import type { Decision } from '@floodgate/core'

export class DecisionFloor {
  private counts = new Map<string, number>()
  private window = Number.NEGATIVE_INFINITY

  constructor(
    private readonly limitPerWindow: number,
    private readonly windowMs: number,
  ) {}

  limit(id: string): Promise<Decision> {
    const nowMs = Date.now()
    const window = Math.floor(nowMs / this.windowMs)
    if (window !== this.window) {
      this.window = window
      this.counts = new Map()
    }
    const limit = this.limitPerWindow
    const used = this.counts.get(id) ?? 0
    const allowed = used + 1 <= limit
    if (allowed) this.counts.set(id, used + 1)
    const resetAtMs = (window + 1) * this.windowMs
    const remaining = allowed ? limit - used - 1 : limit - used
    const retryAfterMs = allowed ? 0 : resetAtMs - nowMs
    return Promise.resolve({
      allowed,
      limit,
      remaining,
      resetAtMs,
      retryAfterMs,
      policy: 'fixed',
      tier: undefined,
      reason: allowed ? 'allowed' : 'limited',
      cost: 1,
      nowMs,
      policies: [
        {
          name: 'fixed',
          kind: 'fixed-window',
          limit,
          windowMs: this.windowMs,
          allowed,
          remaining,
          resetAtMs,
          retryAfterMs,
        },
      ],
    })
  }
}
