import { describe, expect, it } from 'vitest'
import { evaluatePolicies } from './evaluate.js'
import { fixedWindow } from './fixed-window.js'
import { slidingWindow } from './sliding-window.js'
import { tokenBucket } from './token-bucket.js'

const fixed = fixedWindow({ name: 'f', limit: 3, window: '1 s' })
const sliding = slidingWindow({ name: 's', limit: 10, window: '1 s' })
const bucket = tokenBucket({ name: 'b', capacity: 4, refillRate: 1, interval: '1 s' })

describe('evaluatePolicies', () => {
  it('admits only when every policy admits, and charges each', () => {
    const e = evaluatePolicies([fixed, sliding, bucket], [undefined, undefined, undefined], 2, 0)
    expect(e.allowed).toBe(true)
    expect(e.outcomes.map((o) => o.remaining)).toEqual([1, 8, 2])
    expect(e.transitions.map((t) => t.next)).toEqual([
      { window: 0, used: 2 },
      { window: 0, used: 2, previousUsed: 0 },
      { scaledTokens: 2_000, updatedAtMs: 0, expiresAtMs: 2_000 },
    ])
  })

  it('charges none when one denies, and reports the others uncharged', () => {
    const states = [{ window: 0, used: 2 }, { window: 0, used: 1, previousUsed: 0 }, undefined]
    const e = evaluatePolicies([fixed, sliding, bucket], states, 2, 500)
    expect(e.allowed).toBe(false)
    expect(e.outcomes).toEqual([
      { allowed: false, remaining: 1, resetAtMs: 1_000, retryAfterMs: 500 },
      { allowed: true, remaining: 9, resetAtMs: 2_000, retryAfterMs: 0 },
      { allowed: true, remaining: 4, resetAtMs: 500, retryAfterMs: 0 },
    ])
    expect(e.transitions.map((t) => t.next)).toEqual([
      { window: 0, used: 2 },
      { window: 0, used: 1, previousUsed: 0 },
      { scaledTokens: 4_000, updatedAtMs: 500, expiresAtMs: 500 },
    ])
  })
})
