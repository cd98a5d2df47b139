import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../errors.js'
import { no, ok, runTrace } from './reference-trace.js'
import { tokenBucket, tokenBucketTransition } from './token-bucket.js'

// 5 tokens, 2 more per second: one token every 500 ms.
const policy = tokenBucket({ capacity: 5, refillRate: 2, interval: '1 s' })

const run = (steps: [number, number][]) => runTrace(policy, steps)

describe('tokenBucketTransition', () => {
  it('starts full and refills continuously, one token per 500 ms', () => {
    expect(
      run([
        [10_000, 5],
        [10_000, 1],
        [10_499, 1],
        [10_500, 1],
        [10_750, 1],
        [11_000, 1],
      ]),
    ).toEqual([
      ok(0, 12_500), // 5 tokens missing at 2 per second
      no(0, 12_500, 500),
      no(0, 12_500, 1), // 998 of the 1000 scaled units needed: 1 ms more; full at the same instant
      ok(0, 13_000),
      no(0, 13_000, 250), // half a token refilled: the rest takes 250 ms
      ok(0, 13_500),
    ])
  })

  it('refills to capacity and never above', () => {
    const outcomes = run([
      [0, 5],
      [1_000_000, 5],
      [1_000_000, 1],
    ])
    expect(outcomes).toEqual([ok(0, 2_500), ok(0, 1_002_500), no(0, 1_002_500, 500)])
    const idle = tokenBucketTransition(policy, { scaledTokens: 0, updatedAtMs: 0 }, 0, 10 ** 12)
    expect(idle.outcome.remaining).toBe(5)
    expect(idle.next.scaledTokens).toBe(5 * 1_000)
  })

  it('charges a cost above 1 only when all of it is available', () => {
    expect(
      run([
        [0, 4],
        [0, 2],
        [250, 2],
        [500, 2],
      ]),
    ).toEqual([ok(1, 2_000), no(1, 2_000, 500), no(1, 2_000, 250), ok(0, 3_000)])
  })

  it('denies a cost above capacity forever, without charging', () => {
    expect(
      run([
        [0, 6],
        [0, 5],
      ]),
    ).toEqual([no(5, 0, Number.POSITIVE_INFINITY), ok(0, 2_500)])
  })

  it('does not refill when the clock steps back', () => {
    const t = tokenBucketTransition(policy, { scaledTokens: 0, updatedAtMs: 5_000 }, 1, 4_000)
    expect(t.outcome).toEqual(no(0, 6_500, 500))
  })

  it('keeps a state charged again under the same policy until it is full again, not a ms longer', () => {
    // 3 tokens a second: a token takes 333⅓ ms, so the waits, each rounded up, do not add up.
    const thirds = tokenBucket({ capacity: 5, refillRate: 3, interval: '1 s' })
    const first = tokenBucketTransition(thirds, undefined, 1, 0)
    expect(first.expiresAtMs).toBe(334)
    // 1 ms later 4.003 tokens, 3.003 once charged: full again after ceil(1997 / 3) = 666 ms.
    const second = tokenBucketTransition(thirds, first.next, 1, 1)
    expect(second.outcome).toEqual(ok(3, 667))
    expect(second.expiresAtMs).toBe(667)
    expect(second.next).toEqual({ scaledTokens: 3_003, updatedAtMs: 1, expiresAtMs: 667 })
  })

  it("keeps a larger tier's state that a smaller tier charges at its expiry instant, not yet past it", () => {
    // One counter under a 10-token tier, emptied at 10,000: full again (and expiring) at 15,000.
    const large = tokenBucket({ capacity: 10, refillRate: 2, interval: '1 s' })
    const emptied = tokenBucketTransition(large, undefined, 10, 10_000)
    expect(emptied.expiresAtMs).toBe(15_000)
    // At 15,000 the state has not expired: the 5-token tier takes 1 of its 5, and the 4 left take
    // until 15,000 + 6 tokens × 500 ms = 18,000 to refill to the larger tier's 10.
    const charged = tokenBucketTransition(policy, emptied.next, 1, 15_000)
    expect(charged.outcome).toEqual(ok(4, 15_500))
    expect(charged.expiresAtMs).toBe(18_000)
    // So right after 15,500 the larger tier finds 4 tokens and 501 ms of refill, not a full bucket.
    expect(tokenBucketTransition(large, charged.next, 1, 15_501).outcome).toEqual(ok(4, 18_500))
  })

  it("keeps a larger tier's state holding more than a smaller tier's capacity, 1 ms from full", () => {
    // One token per ms. The 10-token tier takes 1 at 10,000: 9 left, full again at 10,001.
    const large = tokenBucket({ capacity: 10, refillRate: 1, interval: 1 })
    const small = tokenBucket({ capacity: 5, refillRate: 1, interval: 1 })
    const charged = tokenBucketTransition(large, undefined, 1, 10_000)
    expect(charged.expiresAtMs).toBe(10_001)
    // The 5-token tier, in the same ms, reads 5 and takes 1: the 4 left reach 10 at 10,006.
    const small1 = tokenBucketTransition(small, charged.next, 1, 10_000)
    expect(small1.outcome).toEqual(ok(4, 10_001))
    expect(small1.expiresAtMs).toBe(10_006)
    // 2 ms later the 10-token tier has 4 + 2 tokens, not a full bucket of 10.
    expect(tokenBucketTransition(large, small1.next, 1, 10_002).outcome).toEqual(ok(5, 10_007))
  })
})

describe('tokenBucket', () => {
  const refused = (option: string) =>
    expect.objectContaining({ code: ERROR_CODES.INVALID_OPTION, option: `tokenBucket.${option}` })

  it('accepts capacity × interval up to 2^51 (exact arithmetic) and refuses anything above', () => {
    expect(tokenBucket({ capacity: 2 ** 40, refillRate: 1, interval: 2_048 }).capacity).toBe(2 ** 40)
    expect(() => tokenBucket({ capacity: 2 ** 40 + 1, refillRate: 1, interval: 2_048 })).toThrow(
      refused('capacity'),
    )
  })

  it('accepts a refill rate up to 2^51 and refuses anything above', () => {
    expect(tokenBucket({ capacity: 1, refillRate: 2 ** 51, interval: 1 }).refillRate).toBe(2 ** 51)
    expect(() => tokenBucket({ capacity: 1, refillRate: 2 ** 51 + 1, interval: 1 })).toThrow(
      refused('refillRate'),
    )
  })
})
