import { type Duration, parseDuration } from '../duration.js'
import { invalidOption } from '../errors.js'
import { floorDiv } from '../math.js'
import { rejectUnknownOptions, requireObject, validatePolicyName, validateQuota } from './common.js'
import type { PolicyOutcome, SlidingWindowPolicy, SlidingWindowState, Transition } from './types.js'

/** Options of {@link slidingWindow}. */
export interface SlidingWindowOptions {
  /** Counter name, unique within a request's policies. Default `"sliding-window"`. */
  name?: string | undefined
  /** Units admitted per sliding window: a whole number from 1 to 999,999,999,999,999 (15 digits). */
  limit: number
  /** Window length: ms or a string such as `"1 m"`. */
  window: Duration
}

const OPTIONS = ['name', 'limit', 'window'] as const

/** limit × windowMs bound: keeps every intermediate of the exact arithmetic below 2^53. */
export const MAX_SLIDING_PRODUCT = 2 ** 51

/**
 * The weighted two-window counter: the previous window's usage counts in proportion to how much
 * of it still overlaps the sliding window ending now. Smooth at window boundaries, O(1) state.
 */
export function slidingWindow(options: SlidingWindowOptions): SlidingWindowPolicy {
  const o = requireObject(options, 'slidingWindow(options)')
  rejectUnknownOptions(o, OPTIONS, 'slidingWindow()')
  const limit = validateQuota(o.limit, 'slidingWindow.limit')
  const windowMs = parseDuration(o.window, 'slidingWindow.window')
  if (limit * windowMs > MAX_SLIDING_PRODUCT) {
    invalidOption(
      'slidingWindow.limit',
      limit,
      `limit × window (ms) of at most 2^51 for exact arithmetic; use a fixedWindow for a quota this large`,
    )
  }
  return Object.freeze({
    kind: 'sliding-window',
    name: o.name === undefined ? 'sliding-window' : validatePolicyName(o.name, 'slidingWindow.name'),
    limit,
    windowMs,
  })
}

/**
 * Reference transition of DESIGN §3. With p used in window n−1, c in window n and e = now − n·W:
 * admitted iff p·(W − e) + (c + k)·W ≤ limit·W, in exact integers.
 */
export function slidingWindowTransition(
  policy: SlidingWindowPolicy,
  state: SlidingWindowState | undefined,
  cost: number,
  nowMs: number,
): Transition<SlidingWindowState> {
  const { limit, windowMs: w } = policy
  const window = Math.floor(nowMs / w)
  let used = 0
  let previousUsed = 0
  if (state !== undefined) {
    if (state.window === window) {
      used = state.used
      previousUsed = state.previousUsed
    } else if (state.window === window - 1) {
      previousUsed = state.used
    }
  }
  const outcome: PolicyOutcome = { allowed: false, remaining: 0, resetAtMs: 0, retryAfterMs: 0 }
  const usedAfter = slidingWindowStep(limit, w, window, used, previousUsed, cost, nowMs, outcome)
  return {
    outcome,
    next: { window, used: usedAfter, previousUsed },
    expiresAtMs: (window + 2) * w,
  }
}

/**
 * The sliding-window maths on scalars, allocating nothing (the memory store calls it per request):
 * `window` is floor(nowMs / w), `used` and `previousUsed` the units counted in it and in the one
 * before. Writes the outcome into `out` and returns the current window's count to store
 * (unchanged when denied); it expires at (window + 2)·w.
 */
export function slidingWindowStep(
  limit: number,
  w: number,
  window: number,
  used: number,
  previousUsed: number,
  cost: number,
  nowMs: number,
  out: PolicyOutcome,
): number {
  const elapsed = nowMs - window * w
  const weighted = previousUsed * (w - elapsed)
  const allowed = weighted + (used + cost) * w <= limit * w
  const usedAfter = allowed ? used + cost : used
  out.allowed = allowed
  out.remaining = Math.min(limit, Math.max(0, floorDiv(Math.max(0, limit * w - weighted - usedAfter * w), w)))
  // Quota is fully restored once both windows' usage has slid out.
  out.resetAtMs = usedAfter > 0 ? (window + 2) * w : previousUsed > 0 ? (window + 1) * w : nowMs
  let retryAfterMs = 0
  if (!allowed) {
    if (cost > limit) {
      retryAfterMs = Number.POSITIVE_INFINITY
    } else if (used + cost <= limit) {
      // Admissible later in this window, once p·(W − e') ≤ (limit − c − k)·W.
      const earliest = w - floorDiv((limit - used - cost) * w, previousUsed)
      retryAfterMs = window * w + earliest - nowMs
    } else {
      // Only in the next window, where this window's c becomes the previous one:
      // c·(W − e') ≤ (limit − k)·W.
      const earliest = Math.max(0, w - floorDiv((limit - cost) * w, used))
      retryAfterMs = (window + 1) * w + earliest - nowMs
    }
  }
  out.retryAfterMs = retryAfterMs
  return usedAfter
}
