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
