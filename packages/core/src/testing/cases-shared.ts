import { expect } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import type { RateLimitStore } from '../store.js'
import type { ConformanceCase } from './conformance-fixture.js'
import type { PolicyKindCase } from './policy-kinds.js'

const CALLS = 2_000
const LIMIT = 100

/**
 * Two store instances on one backend, as two processes on one Redis: the counters are the backend's,
 * so a store whose atomicity lives in the process (a lock, a queue per identifier) admits the limit
 * once per instance, and fails here.
 */
export function sharedStateCases(kinds: readonly PolicyKindCase[]): ConformanceCase[] {
  const cases: ConformanceCase[] = kinds.map((kind) => ({
    name: `${kind.kind}: admits exactly the limit of ${CALLS.toLocaleString('en')} concurrent calls split across two stores`,
    sharedState: true,
    run: async (f) => {
      const policy = kind.make('split', LIMIT)
      const limiterOn = (store: RateLimitStore) =>
        createRateLimiter({
          policies: policy,
          store,
          prefix: f.prefix,
          timeout: '30 s',
          onStoreError: 'deny',
          logger: false,
        })
      const limiters = [limiterOn(f.store), limiterOn(await f.otherStore())]
      const decisions = await Promise.all(
        Array.from({ length: CALLS }, (_, i) => limiters[i % 2]!.limit('hot')),
      )
      expect(decisions.filter((d) => d.reason === 'store-error').map((d) => d.error?.message)).toEqual([])
      const admitted = decisions.filter((d) => d.allowed).length
      expect(admitted, `admitted through both stores together, for a limit of ${LIMIT}`).toBe(LIMIT)
      for (let i = 0; i < LIMIT; i++)
        f.model.consume({ prefix: f.prefix, id: 'hot', policies: [policy], cost: 1, peek: false }, f.clock())
      await f.step({ id: 'hot', policies: [policy], peek: true }, 'after the burst, through the first store')
      await Promise.all(limiters.map((limiter) => limiter.close()))
    },
  }))
  const [fixed] = kinds
  cases.push({
    name: 'sees through each store what was charged or reset through the other',
    sharedState: true,
    run: async (f) => {
      const policy = fixed!.make('seen', 5)
      const other = await f.otherStore()
      const request = { prefix: f.prefix, id: 'x', policies: [policy], cost: 1, peek: false }
      for (let i = 0; i < 3; i++) await other.consume(request)
      for (let i = 0; i < 3; i++) f.model.consume(request, f.clock())
      await f.step({ id: 'x', policies: [policy], peek: true }, 'after 3 charges through the other store')
      await other.reset({ prefix: f.prefix, id: 'x', policies: [policy] })
      f.model.reset({ prefix: f.prefix, id: 'x', policies: [policy] })
      await f.step({ id: 'x', policies: [policy] }, 'after a reset through the other store')
    },
  })
  return cases
}
