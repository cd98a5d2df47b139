import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { evaluatePolicies } from '../policies/evaluate.js'
import { fixedWindow, fixedWindowTransition } from '../policies/fixed-window.js'
import { slidingWindow, slidingWindowTransition } from '../policies/sliding-window.js'
import { tokenBucket, tokenBucketTransition } from '../policies/token-bucket.js'
import type { Policy, PolicyState, Transition } from '../policies/types.js'
import { memoryStore } from './memory-store.js'

// The memory store against the reference transitions over traces that mix its two write paths (a
// one-policy request decides and writes in place; a two-policy request reads, evaluates, writes),
// resets of the same identifiers, and waits across window boundaries.

type Step =
  | { kind: 'limit' | 'limit-both'; id: string; cost: number }
  | { kind: 'reset'; id: string }
  | { kind: 'wait'; ms: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constantFrom('limit' as const, 'limit-both' as const),
      id: fc.constantFrom('a', 'b', 'c'),
      cost: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('reset' as const), id: fc.constantFrom('a', 'b', 'c') }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 1_500 }) }),
  },
)

const cases: [
  string,
  Policy,
  (p: Policy, s: PolicyState | undefined, cost: number, now: number) => Transition,
][] = [
  ['fixed window', fixedWindow({ limit: 3, window: 1_000 }), fixedWindowTransition as never],
  ['sliding window', slidingWindow({ limit: 3, window: 1_000 }), slidingWindowTransition as never],
  [
    'token bucket',
    tokenBucket({ capacity: 3, refillRate: 2, interval: 1_000 }),
    tokenBucketTransition as never,
  ],
]

const other = fixedWindow({ name: 'other', limit: 8, window: 700 })

describe.each(cases)('the memory store with a %s', (_name, policy, transition) => {
  it('decides like the reference transition over traces of decisions, resets and waits', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), async (steps) => {
        let now = 1_700_000_000_000
        const store = memoryStore({ clock: () => now })
        const model = new Map<string, PolicyState>()
        const otherModel = new Map<string, PolicyState>()
        for (const s of steps) {
          if (s.kind === 'wait') now += s.ms
          else if (s.kind === 'reset') {
            await store.reset({ prefix: 'p', id: s.id, policies: [policy, other] })
            model.delete(s.id)
            otherModel.delete(s.id)
          } else if (s.kind === 'limit') {
            const expected = transition(policy, model.get(s.id), s.cost, now)
            const { outcomes } = await store.consume({
              prefix: 'p',
              id: s.id,
              policies: [policy],
              cost: s.cost,
              peek: false,
            })
            expect(outcomes[0]).toEqual(expected.outcome)
            if (expected.outcome.allowed) model.set(s.id, expected.next)
          } else {
            // The same counter through a two-policy request: the store's other write path.
            const policies = [policy, other]
            const states = [model.get(s.id), otherModel.get(s.id)]
            const expected = evaluatePolicies(policies, states, s.cost, now)
            const { outcomes } = await store.consume({
              prefix: 'p',
              id: s.id,
              policies,
              cost: s.cost,
              peek: false,
            })
            expect(outcomes).toEqual(expected.outcomes)
            if (expected.allowed) {
              model.set(s.id, expected.transitions[0]!.next)
              otherModel.set(s.id, expected.transitions[1]!.next)
            }
          }
        }
      }),
      { numRuns: 2_000 },
    )
  })
})
