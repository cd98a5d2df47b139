import { describe, expect, it } from 'vitest'
import { fixedWindow, fixedWindowStep, fixedWindowTransition } from './fixed-window.js'
import { no, ok, runTrace } from './reference-trace.js'

const policy = fixedWindow({ limit: 3, window: '1 s' })

const run = (steps: [number, number][]) => runTrace(policy, steps)

describe('fixedWindowTransition', () => {
  it('admits up to the limit in an epoch-aligned window, then denies until its end', () => {
    expect(
      run([
        [5_200, 1],
        [5_200, 1],
        [5_500, 1],
        [5_600, 1],
        [5_999, 2],
      ]),
    ).toEqual([ok(2, 6_000), ok(1, 6_000), ok(0, 6_000), no(0, 6_000, 400), no(0, 6_000, 1)])
  })

  it('rolls over at the first ms of the next window, not before', () => {
    expect(
      run([
        [5_000, 3],
        [5_999, 1],
        [6_000, 1],
        [6_000, 2],
        [6_999, 1],
      ]),
    ).toEqual([ok(0, 6_000), no(0, 6_000, 1), ok(2, 7_000), ok(0, 7_000), no(0, 7_000, 1)])
  })

  it('charges a cost above 1 only when all of it fits', () => {
    expect(
      run([
        [0, 2],
        [1, 2],
        [2, 1],
      ]),
    ).toEqual([ok(1, 1_000), no(1, 1_000, 999), ok(0, 1_000)])
  })

  it('denies a cost above the limit forever, without charging', () => {
    expect(
      run([
        [10, 4],
        [10, 3],
      ]),
    ).toEqual([no(3, 1_000, Number.POSITIVE_INFINITY), ok(0, 1_000)])
  })

  it('reports 0 remaining, never a negative count, when more than the limit was used (a tier downgrade)', () => {
    const t = fixedWindowTransition(policy, { window: 5, used: 50 }, 1, 5_500)
    expect(t.outcome).toEqual(no(0, 6_000, 500))
  })

  it('writes every field of an outcome that held another decision (the memory store writes in place)', () => {
    const out = no(3, 1_000, 700)
    expect(fixedWindowStep(3, 1_000, 5, 0, 1, 5_500, out)).toBe(1)
    expect(out).toEqual(ok(2, 6_000))
    expect(fixedWindowStep(3, 1_000, 5, 3, 1, 5_500, out)).toBe(3)
    expect(out).toEqual(no(0, 6_000, 500))
  })

  it('ignores a stored count from an older window', () => {
    const t = fixedWindowTransition(policy, { window: 4, used: 3 }, 1, 9_000)
    expect(t.outcome).toEqual(ok(2, 10_000))
    expect(t.next).toEqual({ window: 9, used: 1 })
    expect(t.expiresAtMs).toBe(10_000)
  })
})
