import { describe, expect, it } from 'vitest'
import { ACCURACY_SCENARIOS, maxInAnyWindow, measureAccuracy, steadyArrivals } from './accuracy.js'
import { fixedWindow } from './policies/fixed-window.js'
import { slidingWindow } from './policies/sliding-window.js'
import { tokenBucket } from './policies/token-bucket.js'

// The figures docs/algorithms.md and docs/benchmarks.md state, computed on a simulated clock.
const LIMIT = 100
const WINDOW_MS = 1000
const [steady, boundaryBurst, slidingWorstCase] = ACCURACY_SCENARIOS as [
  (typeof ACCURACY_SCENARIOS)[number],
  (typeof ACCURACY_SCENARIOS)[number],
  (typeof ACCURACY_SCENARIOS)[number],
]
const fixed = () => fixedWindow({ limit: LIMIT, window: WINDOW_MS })
const sliding = () => slidingWindow({ limit: LIMIT, window: WINDOW_MS })
const bucket = () => tokenBucket({ capacity: LIMIT, refillRate: LIMIT, interval: WINDOW_MS })

describe('maxInAnyWindow', () => {
  it('counts admissions in half-open intervals [s, s + window)', () => {
    expect(maxInAnyWindow([0, 999, 1000], 1000)).toBe(2)
    expect(maxInAnyWindow([0, 1, 2, 1001, 1002], 1000)).toBe(3)
    expect(maxInAnyWindow([], 1000)).toBe(0)
  })

  it('spaces steady arrivals evenly at millisecond resolution', () => {
    const arrivals = steadyArrivals(400, 10_000)
    expect(arrivals).toHaveLength(4000)
    expect(arrivals.slice(0, 5)).toEqual([0, 2, 5, 7, 10])
    expect(maxInAnyWindow(arrivals, 1000)).toBe(400)
  })
})

describe('sliding window accuracy', () => {
  it('admits at most 1.10 × its limit in any rolling second of a burst straddling a boundary', async () => {
    const r = await measureAccuracy(sliding(), boundaryBurst, LIMIT, WINDOW_MS)
    expect(r.maxInAnyWindow).toBe(109)
    expect(r.maxInAnyWindow).toBeLessThanOrEqual(1.1 * LIMIT)
  })

  it('admits at least 98 % of the allowed rate under a steady 4× overload', async () => {
    const r = await measureAccuracy(sliding(), steady, LIMIT, WINDOW_MS)
    expect(r.admitted).toBe(991)
    expect(r.shareOfAllowedRate).toBeGreaterThanOrEqual(0.98)
    expect(r.maxInAnyWindow).toBe(LIMIT)
  })

  it('admits limit × (2 − 1 ms / window) when the previous window spent its quota in its last ms', async () => {
    // p requests at the very end of window n−1 count as p·(W − e)/W at elapsed e, so by e = W − 1
    // window n admits limit·(W − 1)/W more: 100 + 99 inside [999 ms, 1999 ms).
    const r = await measureAccuracy(sliding(), slidingWorstCase, LIMIT, WINDOW_MS)
    expect(r.maxInAnyWindow).toBe(Math.floor(LIMIT * (2 - 1 / WINDOW_MS)))
    expect(r.maxInAnyWindow).toBe(199)
  })
})

describe('fixed window accuracy', () => {
  it('admits up to twice its limit across a window boundary', async () => {
    expect((await measureAccuracy(fixed(), slidingWorstCase, LIMIT, WINDOW_MS)).maxInAnyWindow).toBe(
      2 * LIMIT,
    )
    // The request at t = 0 leaves 99 for the end of the first window, then 100 in the next.
    expect((await measureAccuracy(fixed(), boundaryBurst, LIMIT, WINDOW_MS)).maxInAnyWindow).toBe(199)
  })

  it('admits exactly the allowed rate under a steady overload', async () => {
    const r = await measureAccuracy(fixed(), steady, LIMIT, WINDOW_MS)
    expect(r.admitted).toBe(1000)
    expect(r.maxInAnyWindow).toBe(LIMIT)
  })
})

describe('token bucket accuracy', () => {
  it('admits at most capacity + refill over any interval, reached by its initial full bucket', async () => {
    const bound = LIMIT + LIMIT // capacity + refillRate × (window / interval)
    const results = await Promise.all(
      ACCURACY_SCENARIOS.map((s) => measureAccuracy(bucket(), s, LIMIT, WINDOW_MS)),
    )
    for (const r of results) expect(r.maxInAnyWindow).toBeLessThanOrEqual(bound)
    expect(results.map((r) => r.maxInAnyWindow)).toEqual([199, 120, 199])
  })

  it('admits the full bucket plus the refill under a steady overload', async () => {
    // 100 at once, then 100 per second until the last arrival at 9997 ms: 100 + floor(999.7).
    expect((await measureAccuracy(bucket(), steady, LIMIT, WINDOW_MS)).admitted).toBe(1099)
  })
})

describe('measureAccuracy', () => {
  it('reports arrivals, admissions and the share of the allowed rate over each scenario', async () => {
    const results = await Promise.all(
      ACCURACY_SCENARIOS.map((s) => measureAccuracy(fixed(), s, LIMIT, WINDOW_MS)),
    )
    expect(results.map((r) => [r.arrived, r.admitted])).toEqual([
      [4000, 1000],
      [202, 200],
      [1100, 200],
    ])
    // admitted ÷ (100 per second × the scenario's duration: 10 s, 1.1 s, 2 s)
    expect(results.map((r) => r.shareOfAllowedRate)).toEqual([1, 200 / 110, 1])
    expect((await measureAccuracy(sliding(), steady, LIMIT, WINDOW_MS)).shareOfAllowedRate).toBe(0.991)
  })

  it('measures the share and the busiest window over the policy window given', async () => {
    // 200 per 2 s is the same rate: every 2 s window of the steady overload admits 200.
    const r = await measureAccuracy(fixedWindow({ limit: 200, window: 2000 }), steady, 200, 2000)
    expect(r).toEqual({ arrived: 4000, admitted: 1000, maxInAnyWindow: 200, shareOfAllowedRate: 1 })
  })
})
