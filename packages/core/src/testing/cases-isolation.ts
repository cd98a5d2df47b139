import { expect } from 'vitest'
import type { Policy } from '../policies/types.js'
import type { ConformanceCase, Fixture } from './conformance-fixture.js'
import { PERIOD_MS, POLICY_KINDS, type PolicyKindCase, quotaOf } from './policy-kinds.js'

/** Identifiers that a glob, a hash tag or a naive key join would confuse with one another. */
export const TRICKY_IDS: readonly string[] = [
  '*',
  'a',
  'a:b',
  'a:b:c',
  'a*',
  'a?',
  '?',
  '[a]',
  'a[bc]',
  '[^a]',
  '{a}',
  'a{b}',
  '{',
  '}',
  '\\*',
  'a\\',
  '',
  ' ',
  'a b',
  'ü',
  '\0',
]

/** Reset targets, each of which a pattern-based reset would turn into a wider deletion. */
const RESET_TARGETS: readonly string[] = ['*', 'a', 'a:b', '{a}', 'a?', '[a]', '', '\\*']

async function exhaust(f: Fixture, id: string, policy: Policy, prefix?: string): Promise<void> {
  for (let i = 0; i < quotaOf(policy); i++) await f.step({ id, policies: [policy], prefix }, `exhaust ${id}`)
  const denied = await f.step({ id, policies: [policy], prefix }, `exhausted ${id}`)
  expect(denied.outcomes[0]!.allowed).toBe(false)
}

async function expectUntouched(f: Fixture, id: string, policy: Policy, prefix?: string): Promise<void> {
  const answer = await f.step({ id, policies: [policy], prefix, peek: true }, `untouched ${id}`)
  expect(answer.outcomes[0]).toMatchObject({ allowed: true, remaining: quotaOf(policy) - 1 })
}

export function isolationCases(kind: PolicyKindCase): ConformanceCase[] {
  const cases: ConformanceCase[] = []
  cases.push({
    name: 'resets exactly the literal identifier given, never a pattern',
    run: async (f) => {
      const policy = kind.make('reset', 5)
      for (const [i, id] of TRICKY_IDS.entries()) {
        await f.step({ id, policies: [policy], cost: (i % 3) + 1 }, 'charge')
      }
      for (const target of RESET_TARGETS) {
        await f.reset(target, [policy])
        const own = await f.step({ id: target, policies: [policy], peek: true }, `reset ${target}`)
        expect(own.outcomes[0]!.remaining).toBe(quotaOf(policy) - 1)
        // The model kept every other identifier's usage: the store must have too.
        for (const id of TRICKY_IDS) {
          await f.step({ id, policies: [policy], peek: true }, `after reset of ${JSON.stringify(target)}`)
        }
        await f.step({ id: target, policies: [policy], cost: 2 }, 'charge again')
      }
      await f.reset('never-seen', [policy])
    },
  })

  cases.push({
    name: 'keeps identifiers apart',
    run: async (f) => {
      const policy = kind.make('keys', 3)
      await exhaust(f, 'a', policy)
      for (const id of TRICKY_IDS.filter((id) => id !== 'a')) await expectUntouched(f, id, policy)
      await exhaust(f, '*', policy)
      await exhaust(f, '{a}', policy)
      await expectUntouched(f, 'a:b', policy)
      await expectUntouched(f, '{a', policy)
    },
  })

  cases.push({
    name: 'keeps prefixes and policy names apart',
    run: async (f) => {
      const policy = kind.make('scope', 3)
      const other = f.newPrefix()
      await exhaust(f, 'x:y', policy)
      await expectUntouched(f, 'x:y', policy, other)
      // Joined naively with ":", (prefix, "scope", "x:y") and (prefix + ":scope", "x", "y") are one key.
      await expectUntouched(f, 'y', kind.make('x', 3), `${f.prefix}:scope`)
      await expectUntouched(f, 'y', policy, `${f.prefix}:x`)
      // Joined with nothing between them, (prefix + "s", "cope") and (prefix, "scope") are one key.
      await expectUntouched(f, 'x:y', kind.make('cope', 3), `${f.prefix}s`)
      // A counter belongs to its policy name too: another name on the same identifier is fresh.
      await expectUntouched(f, 'x:y', kind.make('scope2', 3))
      // And a reset under one prefix leaves the other alone.
      await exhaust(f, 'x:y', policy, other)
      await f.reset('x:y', [policy], other)
      const still = await f.step({ id: 'x:y', policies: [policy], peek: true }, 'own prefix after reset')
      expect(still.outcomes[0]!.allowed).toBe(false)
      await expectUntouched(f, 'x:y', policy, other)
    },
  })

  cases.push({
    name: 'counts a policy name apart under another kind or period, and together under another limit',
    run: async (f) => {
      // A deploy that changes a policy's period or kind under the same name: a counter of its own,
      // never the old state read under the new policy.
      const before = kind.make('deploy', 3)
      await exhaust(f, 'u', before)
      await expectUntouched(f, 'u', kind.make('deploy', 3, 2 * PERIOD_MS))
      for (const other of POLICY_KINDS.filter((k) => k.kind !== kind.kind)) {
        await expectUntouched(f, 'u', other.make('deploy', 3))
      }
      // Old and new processes side by side on one identifier (a rolling deploy): each counts its
      // own, so together they admit both quotas exactly, and neither overwrites or expires the
      // other's count, also when the shorter period rolls over within the longer one.
      const after = kind.make('deploy', 4, 2 * PERIOD_MS)
      f.clock.advance(2 * PERIOD_MS - (f.clock() % (2 * PERIOD_MS)))
      for (const moment of ['', ' after the shorter period', ' after both periods']) {
        for (let i = 0; i < 6; i++) {
          await f.step({ id: 'v', policies: [before] }, `old process${moment}`)
          await f.step({ id: 'v', policies: [after] }, `new process${moment}`)
        }
        f.clock.advance(PERIOD_MS)
      }
      // Another limit under the same kind and period is the same counter (a plan change, a deploy
      // that raises the limit): the usage stays.
      await f.step({ id: 'u', policies: [kind.make('deploy', 5)] }, 'limit raised')
      // A reset deletes the counters it names, not every counter of the name (a pattern on it):
      // the same name under another kind or period keeps its count.
      await exhaust(f, 'w', before)
      const others = POLICY_KINDS.filter((k) => k.kind !== kind.kind).map((k) => k.make('deploy', 3))
      for (const other of [kind.make('deploy', 3, 2 * PERIOD_MS), ...others]) await f.reset('w', [other])
      const kept = await f.step({ id: 'w', policies: [before], peek: true }, 'after resetting the others')
      expect(kept.outcomes[0]!.allowed).toBe(false)
    },
  })
  return cases
}
