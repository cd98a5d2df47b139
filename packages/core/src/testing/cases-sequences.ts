import { expect } from 'vitest'
import type { StoreResponse } from '../store.js'
import type { ConformanceCase } from './conformance-fixture.js'
import { PERIOD_MS, type PolicyKindCase, quotaOf } from './policy-kinds.js'

/** [ms since the start, cost, peek?]: boundary instants, rollover/refill, costs above 1 and above the quota. */
const SCRIPT: readonly (readonly [number, number, boolean?])[] = [
  [0, 1],
  [0, 1, true],
  [0, 2],
  [0, 2],
  [0, 1],
  [0, 1, true],
  [0, 6],
  [1, 1],
  [PERIOD_MS / 2, 1],
  [PERIOD_MS - 1, 1], // the last ms of the first window
  [PERIOD_MS - 1, 2],
  [PERIOD_MS, 1], // the first ms of the next
  [PERIOD_MS, 3],
  [PERIOD_MS, 1],
  [PERIOD_MS + 1, 2],
  [PERIOD_MS + 2_500, 1],
  [PERIOD_MS + 7_499, 2, true],
  [PERIOD_MS + 7_500, 2],
  [2 * PERIOD_MS - 1, 1],
  [2 * PERIOD_MS, 5],
  [2 * PERIOD_MS, 1],
  [2 * PERIOD_MS + 1, 1],
  [3 * PERIOD_MS + 4_999, 4],
  [7 * PERIOD_MS, 5, true], // idle: windows long gone, the bucket refilled to capacity and no further
  [7 * PERIOD_MS, 5],
  [7 * PERIOD_MS, 1],
  [7 * PERIOD_MS + 4_999, 1],
  [7 * PERIOD_MS + 5_000, 1],
  [8 * PERIOD_MS, 6],
  [8 * PERIOD_MS, 5],
]

export function sequenceCases(kind: PolicyKindCase): ConformanceCase[] {
  const cases: ConformanceCase[] = []
  cases.push({
    name: 'gives the reference decisions across boundary instants, rollover, refill and costs above 1',
    run: async (f) => {
      const policy = kind.make('seq', 5)
      const start = f.clock()
      const answers: StoreResponse[] = []
      for (const [i, [atMs, cost, peek]] of SCRIPT.entries()) {
        f.clock.set(start + atMs)
        answers.push(await f.step({ id: 'user:1', policies: [policy], cost, peek }, `script step ${i}`))
      }
      // The script must exercise both answers and a cost the policy can never admit.
      const outcomes = answers.map((a) => a.outcomes[0]!)
      expect(outcomes.some((o) => o.allowed)).toBe(true)
      expect(outcomes.some((o) => !o.allowed && Number.isFinite(o.retryAfterMs))).toBe(true)
      expect(outcomes.some((o) => o.retryAfterMs === Number.POSITIVE_INFINITY)).toBe(true)
    },
  })

  cases.push({
    name: 'changes nothing on a denial, whatever its cost',
    run: async (f) => {
      const policy = kind.make('deny', 5)
      const quota = quotaOf(policy)
      for (let i = 0; i < quota; i++) await f.step({ id: 'd', policies: [policy] }, `charge ${i}`)
      const before = await f.step({ id: 'd', policies: [policy], peek: true }, 'peek before')
      expect(before.outcomes[0]!.allowed).toBe(false)
      for (const cost of [1, 2, 1, quota, quota + 1, 1_000, 1]) {
        const denied = await f.step({ id: 'd', policies: [policy], cost }, `denied cost ${cost}`)
        expect(denied.outcomes[0]!.allowed).toBe(false)
      }
      const after = await f.step({ id: 'd', policies: [policy], peek: true }, 'peek after')
      expect(after).toEqual(before)
      // Later decisions still follow a state the denials never touched.
      for (const advanceMs of [PERIOD_MS / 4, PERIOD_MS / 4, PERIOD_MS / 2, 1]) {
        f.clock.advance(advanceMs)
        await f.step({ id: 'd', policies: [policy] }, 'after denials')
        await f.step({ id: 'd', policies: [policy], cost: 2 }, 'after denials, cost 2')
      }
    },
  })

  cases.push({
    name: 'answers a peek as the next consume would, and changes nothing',
    run: async (f) => {
      const policy = kind.make('peek', 5)
      const fresh = await f.step({ id: 'p', policies: [policy], peek: true }, 'peek on a new id')
      expect(fresh.outcomes[0]).toMatchObject({ allowed: true, remaining: quotaOf(policy) - 1 })
      for (let round = 0; round < 8; round++) {
        for (const cost of [1, 2, 6]) {
          const peeked = await f.step({ id: 'p', policies: [policy], cost, peek: true }, `peek ${round}`)
          await f.step({ id: 'p', policies: [policy], cost, peek: true }, `peek again ${round}`)
          const consumed = await f.step({ id: 'p', policies: [policy], cost }, `consume ${round}`)
          expect(consumed.outcomes).toEqual(peeked.outcomes)
        }
        f.clock.advance(3_333)
      }
    },
  })
  cases.push({
    name: 'follows a change of limit under one name, as a tier change makes it',
    run: async (f) => {
      const pro = kind.make('tiered', 12)
      const free = kind.make('tiered', 4)
      for (let i = 0; i < 9; i++) await f.step({ id: 't', policies: [pro] }, `as pro ${i}`)
      const downgraded = await f.step({ id: 't', policies: [free] }, 'downgraded')
      // Windows keep the usage (9 > 4: denied); a bucket keeps its tokens (3, within the new capacity).
      expect(downgraded.outcomes[0]!).toMatchObject(
        kind.kind === 'token-bucket' ? { allowed: true, remaining: 2 } : { allowed: false, remaining: 0 },
      )
      for (const advanceMs of [1, PERIOD_MS / 2, PERIOD_MS / 2, 1, PERIOD_MS]) {
        f.clock.advance(advanceMs)
        await f.step({ id: 't', policies: [free] }, 'as free')
        await f.step({ id: 't', policies: [pro], cost: 2 }, 'as pro again')
      }
    },
  })
  return cases
}
