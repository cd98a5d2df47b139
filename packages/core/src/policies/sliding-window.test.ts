import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../errors.js'
import { no, ok, runTrace } from './reference-trace.js'
import { slidingWindow, slidingWindowTransition } from './sliding-window.js'

const policy = slidingWindow({ limit: 10, window: 1_000 })

const run = (steps: [number, number][]) => runTrace(policy, steps)

describe('slidingWindowTransition', () => {
  // 8 used in window 0; at 1250 (e = 250) the previous window weighs 8 × 750 = 6000 of 10 × 1000.
  const history: [number, number][] = [
    [500, 8],
    [1_250, 3], // 6000 + 3000 ≤ 10000: admitted, floor((10000 − 6000 − 3000) / 1000) = 1 left
  ]

  it('weighs the previous window by its overlap, in exact integers', () => {
    expect(run(history)).toEqual([ok(2, 2_000), ok(1, 3_000)])
  })

  it('retries later in the same window when this window alone has room (first branch)', () => {
    // 6000 + (3 + 2) × 1000 = 11000 > 10000. Admitted once 8 × (1000 − e) ≤ 5000: e ≥ 375.
    expect(run([...history, [1_250, 2], [1_374, 2], [1_375, 2]]).slice(2)).toEqual([
      no(1, 3_000, 125),
      no(1, 3_000, 1),
      ok(0, 3_000),
    ])
  })

  it('retries in the next window when this window is spent (second branch)', () => {
    // c = 5 after 1375. A cost of 6: c + k > 10, so only in window 2, once 5 × (1000 − e) ≤ 4000:
    // e ≥ 200, at 2200. At 2199 the denial reports the uncharged floor((10000 − 5 × 801) / 1000) = 5.
    const steps: [number, number][] = [...history, [1_375, 2], [1_375, 6], [2_199, 6], [2_200, 6]]
    expect(run(steps).slice(3)).toEqual([no(0, 3_000, 825), no(5, 3_000, 1), ok(0, 4_000)])
  })

  it('retries at the next window start when the wait ends exactly there', () => {
    // limit − c − k = 0 in the first branch: floor(0 / p) = 0, so the earliest instant is e = W.
    const steps: [number, number][] = [
      [0, 1],
      [1_000, 9],
      [1_500, 1],
    ]
    expect(run(steps)).toEqual([ok(9, 2_000), ok(0, 3_000), no(0, 3_000, 500)])
  })

  it('denies a cost above the limit forever', () => {
    expect(run([[0, 11]])).toEqual([no(10, 0, Number.POSITIVE_INFINITY)])
  })

  it('keeps a charged state until the end of the next window, where its count stops weighing', () => {
    // Charged in window 1: the count still weighs on window 2, so the state may go only at 3000.
    const t = slidingWindowTransition(policy, undefined, 1, 1_250)
    expect(t.next).toEqual({ window: 1, used: 1, previousUsed: 0 })
    expect(t.expiresAtMs).toBe(3_000)
  })

  it('forgets a window two windows old and reports a full quota at once', () => {
    const t = slidingWindowTransition(policy, { window: 3, used: 10, previousUsed: 10 }, 1, 5_100)
    expect(t.outcome).toEqual(ok(9, 7_000))
    expect(t.next).toEqual({ window: 5, used: 1, previousUsed: 0 })
    const peek = slidingWindowTransition(policy, { window: 3, used: 10, previousUsed: 10 }, 0, 5_100)
    expect(peek.outcome).toEqual({ allowed: true, remaining: 10, resetAtMs: 5_100, retryAfterMs: 0 })
  })
})

describe('slidingWindow', () => {
  it('accepts limit × window up to 2^51 (exact arithmetic) and refuses anything above', () => {
    expect(slidingWindow({ limit: 2 ** 40, window: 2_048 }).limit).toBe(2 ** 40) // exactly 2^51
    expect(() => slidingWindow({ limit: 2 ** 40 + 1, window: 2_048 })).toThrow(
      expect.objectContaining({ code: ERROR_CODES.INVALID_OPTION, option: 'slidingWindow.limit' }),
    )
  })
})
