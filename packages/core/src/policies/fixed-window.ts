import { type Duration, parseDuration } from '../duration.js'
import { rejectUnknownOptions, requireObject, validatePolicyName, validateQuota } from './common.js'
import type { FixedWindowPolicy, FixedWindowState, PolicyOutcome, Transition } from './types.js'

/** Options of {@link fixedWindow}. */
export interface FixedWindowOptions {
  /** Counter name, unique within a request's policies. Default `"fixed-window"`. */
  name?: string | undefined
  /** Units admitted per window: a whole number from 1 to 999,999,999,999,999 (15 digits). */
  limit: number
  /** Window length: ms or a string such as `"1 m"`. Windows are aligned to the Unix epoch. */
  window: Duration
}

const OPTIONS = ['name', 'limit', 'window'] as const

/**
 * At most `limit` units in each window `[n·W, (n+1)·W)`. Cheap and predictable; a client can
 * spend up to twice the limit across one window boundary.
 */
export function fixedWindow(options: FixedWindowOptions): FixedWindowPolicy {
  const o = requireObject(options, 'fixedWindow(options)')
  rejectUnknownOptions(o, OPTIONS, 'fixedWindow()')
  return Object.freeze({
    kind: 'fixed-window',
    name: o.name === undefined ? 'fixed-window' : validatePolicyName(o.name, 'fixedWindow.name'),
    limit: validateQuota(o.limit, 'fixedWindow.limit'),
    windowMs: parseDuration(o.window, 'fixedWindow.window'),
  })
}

/** Reference transition of DESIGN §3: admitted iff used + cost ≤ limit within the current window. */
export function fixedWindowTransition(
  policy: FixedWindowPolicy,
  state: FixedWindowState | undefined,
  cost: number,
  nowMs: number,
): Transition<FixedWindowState> {
  const { limit, windowMs } = policy
  const window = Math.floor(nowMs / windowMs)
  const used = state !== undefined && state.window === window ? state.used : 0
  const outcome: PolicyOutcome = { allowed: false, remaining: 0, resetAtMs: 0, retryAfterMs: 0 }
  const next = fixedWindowStep(limit, windowMs, window, used, cost, nowMs, outcome)
  return { outcome, next: { window, used: next }, expiresAtMs: outcome.resetAtMs }
}

/**
 * The fixed-window maths on scalars, allocating nothing (the memory store calls it per request):
 * `window` is floor(nowMs / windowMs) and `used` the units already counted in it. Writes the
 * outcome into `out` and returns the count to store (unchanged when denied); it expires at
 * `out.resetAtMs`.
 */
export function fixedWindowStep(
  limit: number,
  windowMs: number,
  window: number,
  used: number,
  cost: number,
  nowMs: number,
  out: PolicyOutcome,
): number {
  const resetAtMs = (window + 1) * windowMs
  out.resetAtMs = resetAtMs
  if (used + cost <= limit) {
    out.allowed = true
    out.remaining = limit - used - cost
    out.retryAfterMs = 0
    return used + cost
  }
  out.allowed = false
  // A tier downgrade can leave more used than this tier's limit: never report a negative count.
  out.remaining = Math.max(0, limit - used)
  // In the next window the count starts at zero, so any cost ≤ limit is admitted there.
  out.retryAfterMs = cost > limit ? Number.POSITIVE_INFINITY : resetAtMs - nowMs
  return used
}
