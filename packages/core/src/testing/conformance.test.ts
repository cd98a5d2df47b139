import { describe, expect, it } from 'vitest'
import { evaluatePolicies, transition } from '../policies/evaluate.js'
import type { PolicyState } from '../policies/types.js'
import type { RateLimitStore } from '../store.js'
import { conformanceGroups } from './conformance.js'
import { type ConformanceCase, type StoreConformanceOptions, withFixture } from './conformance-fixture.js'

// The kit must be able to fail: each deliberately broken store below is caught by the case that
// targets its bug, while the same store without the bug passes every case.

type Bug =
  | 'none'
  | 'naive-key-join'
  | 'glob-reset'
  | 'peek-writes'
  | 'clock-off-by-one'
  | 'charges-on-denial'
  | 'read-then-write-race'

function globToRegExp(glob: string): RegExp {
  const body = [...glob].map((ch) =>
    ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&'),
  )
  return new RegExp(`^${body.join('')}$`, 's')
}

function toyStore(clock: () => number, bug: Bug): RateLimitStore {
  const states = new Map<string, { id: string; state: PolicyState }>()
  const keyOf = (prefix: string, name: string, id: string) =>
    bug === 'naive-key-join' ? `${prefix}:${name}:${id}` : JSON.stringify([prefix, name, id])
  return {
    name: `toy (${bug})`,
    local: true,
    async consume(request) {
      const nowMs = clock()
      const keys = request.policies.map((p) => keyOf(request.prefix, p.name, request.id))
      const before = keys.map((k) => states.get(k)?.state)
      if (bug === 'read-then-write-race') await new Promise((resolve) => setImmediate(resolve))
      const atMs = bug === 'clock-off-by-one' ? nowMs + 1 : nowMs
      const evaluation = evaluatePolicies(request.policies, before, request.cost, atMs)
      if (!request.peek || bug === 'peek-writes') {
        request.policies.forEach((policy, i) => {
          if (evaluation.allowed)
            states.set(keys[i]!, { id: request.id, state: evaluation.transitions[i]!.next })
          else if (bug === 'charges-on-denial') {
            const charged = transition(policy, before[i], request.cost, atMs)
            if (charged.outcome.allowed) states.set(keys[i]!, { id: request.id, state: charged.next })
          }
        })
      }
      return { nowMs, outcomes: evaluation.outcomes }
    },
    reset(request) {
      for (const policy of request.policies) {
        if (bug !== 'glob-reset') {
          states.delete(keyOf(request.prefix, policy.name, request.id))
          continue
        }
        const pattern = globToRegExp(request.id)
        for (const [key, entry] of states) {
          if (
            key.startsWith(JSON.stringify([request.prefix, policy.name]).slice(0, -1)) &&
            pattern.test(entry.id)
          )
            states.delete(key)
        }
      }
    },
    close() {},
  }
}

const optionsFor = (bug: Bug): StoreConformanceOptions => ({
  name: bug,
  createStore: ({ clock }) => toyStore(clock, bug),
})

const groups = conformanceGroups()
const allCases = Object.values(groups).flat()

function find(group: string, name: string): ConformanceCase {
  const found = groups[group]?.find((c) => c.name.startsWith(name))
  if (found === undefined) throw new Error(`no case ${group} > ${name}`)
  return found
}

describe('the store conformance kit', () => {
  it('passes a correct store on every case', async () => {
    for (const c of allCases) await withFixture(optionsFor('none'), c.run)()
  })

  const catches: [Bug, string, string][] = [
    ['naive-key-join', 'fixed-window', 'keeps prefixes and policy names apart'],
    ['glob-reset', 'sliding-window', 'resets exactly the literal identifier'],
    ['peek-writes', 'token-bucket', 'answers a peek as the next consume would'],
    ['clock-off-by-one', 'fixed-window', 'gives the reference decisions across boundary instants'],
    ['clock-off-by-one', 'token-bucket', 'gives the reference decisions across boundary instants'],
    ['charges-on-denial', 'several policies on one request', 'charges none of the policies'],
    ['read-then-write-race', 'sliding-window', 'admits exactly the limit'],
    ['glob-reset', 'generated traces', 'matches the reference on generated traces: all three'],
  ]
  for (const [bug, group, name] of catches) {
    it(`catches a store with the bug "${bug}" in ${group} > ${name}`, async () => {
      await expect(withFixture(optionsFor(bug), find(group, name).run)()).rejects.toThrow()
    })
  }
})
