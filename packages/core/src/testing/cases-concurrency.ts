import { expect } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import type { ConformanceCase } from './conformance-fixture.js'
import { PERIOD_MS, type PolicyKindCase } from './policy-kinds.js'

const CALLS = 10_000
const LIMIT = 100

export function concurrencyCases(kind: PolicyKindCase): ConformanceCase[] {
  const cases: ConformanceCase[] = []
  cases.push({
    name: `admits exactly the limit of ${CALLS.toLocaleString('en')} concurrent limit() calls on one identifier`,
    run: async (f) => {
      const policy = kind.make('hot', LIMIT)
      // A generous deadline: this case measures atomicity, not latency; a failure must not pass.
      const limiter = createRateLimiter({
        policies: policy,
        store: f.store,
        prefix: f.prefix,
        timeout: '30 s',
        onStoreError: 'deny',
        logger: false,
      })
      const decisions = await Promise.all(Array.from({ length: CALLS }, () => limiter.limit('hot')))
      expect(decisions.filter((d) => d.reason === 'store-error').map((d) => d.error?.message)).toEqual([])
      const admitted = decisions.filter((d) => d.allowed)
      expect(admitted).toHaveLength(LIMIT)
      // Atomic decisions see every intermediate count exactly once.
      const remaining = admitted.map((d) => d.remaining).sort((a, b) => a - b)
      expect(remaining).toEqual(Array.from({ length: LIMIT }, (_, i) => i))
      expect(decisions.filter((d) => !d.allowed).every((d) => d.reason === 'limited')).toBe(true)
      for (let i = 0; i < LIMIT; i++)
        f.model.consume({ prefix: f.prefix, id: 'hot', policies: [policy], cost: 1, peek: false }, f.clock())
      await f.step({ id: 'hot', policies: [policy], peek: true }, 'after the burst')
      await limiter.close()
    },
    slow: true,
  })
  return cases
}

export function multiPolicyCases(kinds: readonly PolicyKindCase[]): ConformanceCase[] {
  const cases: ConformanceCase[] = []
  cases.push({
    name: 'charges none of the policies of a denied request (all-or-nothing)',
    run: async (f) => {
      const [fixed, sliding, bucket] = kinds.map((k, i) => k.make(`all-${i}`, [3, 5, 4][i]!))
      const all = [fixed!, sliding!, bucket!]
      for (let i = 0; i < 3; i++) await f.step({ id: 'm', policies: all }, `charge ${i}`)
      // The fixed window (3) is spent: this request is denied and the other two keep their counts.
      const denied = await f.step({ id: 'm', policies: all }, 'fixed window denies')
      expect(denied.outcomes.map((o) => o.allowed)).toEqual([false, true, true])
      expect((await f.step({ id: 'm', policies: [sliding!], peek: true })).outcomes[0]!.remaining).toBe(1)
      expect((await f.step({ id: 'm', policies: [bucket!], peek: true })).outcomes[0]!.remaining).toBe(0)
      // In the next window the fixed window admits 3 again, but the sliding window still weighs the 3
      // of the previous window fully: a cost of 3 is its denial alone, and the fixed window is not charged.
      f.clock.advance(PERIOD_MS)
      const bySliding = await f.step({ id: 'm', policies: [sliding!, fixed!], cost: 3 }, 'sliding denies')
      expect(bySliding.outcomes.map((o) => o.allowed)).toEqual([false, true])
      expect((await f.step({ id: 'm', policies: [fixed!], peek: true })).outcomes[0]!.remaining).toBe(2)
      // The bucket refilled to 3 tokens; spend 2 of them alone, then a cost of 2 is its denial alone.
      await f.step({ id: 'm', policies: [bucket!], cost: 2 }, 'spend the bucket')
      const byBucket = await f.step({ id: 'm', policies: [fixed!, bucket!], cost: 2 }, 'bucket denies')
      expect(byBucket.outcomes.map((o) => o.allowed)).toEqual([true, false])
      expect((await f.step({ id: 'm', policies: [fixed!], peek: true })).outcomes[0]!.remaining).toBe(2)
      for (let i = 0; i < 12; i++) {
        f.clock.advance(PERIOD_MS / 4 + i)
        await f.step({ id: 'm', policies: all, cost: (i % 3) + 1 }, `mixed ${i}`)
      }
    },
  })

  cases.push({
    name: 'counts a token bucket full again under its own capacity as full under a larger one (a tier upgrade)',
    run: async (f) => {
      // Two tokens per period: capacity 2 refills in one period, capacity 6 would take three.
      const bucket = kinds.find((k) => k.kind === 'token-bucket')!
      const [small, large] = [bucket.make('upgrade', 2), bucket.make('upgrade', 6)]
      await f.step({ id: 'u', policies: [small], cost: 2 }, 'empty the small bucket')
      f.clock.advance(PERIOD_MS / 2)
      // Before the small bucket is full, the larger capacity refills from its count: one token.
      const during = await f.step({ id: 'u', policies: [large], peek: true }, 'half a period later')
      expect(during.outcomes[0]!.remaining).toBe(0)
      f.clock.advance(PERIOD_MS)
      // Past the moment it was full (its counter's expiry), the bucket is full under the larger
      // capacity too: 6 tokens, 5 after this request, not the 3 that refilling its count gives.
      const after = await f.step({ id: 'u', policies: [large], peek: true }, 'after it was full')
      expect(after.outcomes[0]!.remaining).toBe(5)
      await f.step({ id: 'u', policies: [large], cost: 4 }, 'spend under the larger capacity')
      const spent = await f.step({ id: 'u', policies: [large], peek: true }, 'after spending')
      expect(spent.outcomes[0]!.remaining).toBe(1)
    },
  })

  cases.push({
    name: "times a denial by a token bucket's expiry: a larger capacity is full 1 ms past it",
    run: async (f) => {
      const bucket = kinds.find((k) => k.kind === 'token-bucket')!
      const [small, large] = [bucket.make('expiry', 2), bucket.make('expiry', 6)]
      const start = f.clock()
      const charged = await f.step({ id: 'e', policies: [small], cost: 2 }, 'empty the small bucket')
      // Under the small capacity the bucket is full again one period later: that is its expiry.
      const expiresAtMs = charged.outcomes[0]!.resetAtMs
      expect(expiresAtMs).toBe(start + PERIOD_MS)
      // Refilling alone would take three periods to hold 6 tokens; the expiry comes first.
      const now = await f.step({ id: 'e', policies: [large], cost: 6, peek: true }, 'the whole larger bucket')
      expect(now.outcomes[0]).toMatchObject({
        allowed: false,
        retryAfterMs: PERIOD_MS + 1,
        resetAtMs: expiresAtMs + 1,
      })
      f.clock.advance(PERIOD_MS)
      const at = await f.step({ id: 'e', policies: [large], cost: 6, peek: true }, 'at the expiry')
      expect(at.outcomes[0]).toMatchObject({ allowed: false, remaining: 2, retryAfterMs: 1 })
      f.clock.advance(1)
      const past = await f.step({ id: 'e', policies: [large], cost: 6 }, '1 ms past the expiry')
      expect(past.outcomes[0]).toMatchObject({ allowed: true, remaining: 0 })
    },
  })

  cases.push({
    name: 'resets only the policies named in the reset request',
    run: async (f) => {
      const [a, b] = [kinds[0]!.make('ra', 3), kinds[2]!.make('rb', 3)]
      for (let i = 0; i < 3; i++) await f.step({ id: 'r', policies: [a, b] })
      await f.reset('r', [a])
      const after = await f.step({ id: 'r', policies: [a, b], peek: true }, 'after resetting one')
      expect(after.outcomes.map((o) => o.allowed)).toEqual([true, false])
    },
  })
  return cases
}
