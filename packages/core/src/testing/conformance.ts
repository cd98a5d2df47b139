import { describe, expect, it } from 'vitest'
import { concurrencyCases, multiPolicyCases } from './cases-concurrency.js'
import {
  bucketTierCases,
  concurrentSeveralCases,
  identifierCases,
  inFlightCases,
  slidingExactCases,
} from './cases-edges.js'
import { isolationCases } from './cases-isolation.js'
import { sequenceCases } from './cases-sequences.js'
import { sharedStateCases } from './cases-shared.js'
import { traceCase, traceSets } from './cases-traces.js'
import { type ConformanceCase, type StoreConformanceOptions, withFixture } from './conformance-fixture.js'
import { POLICY_KINDS } from './policy-kinds.js'

/** Every shared case, grouped as the suite names them. Exposed so the kit can test itself. */
export function conformanceGroups(): Record<string, ConformanceCase[]> {
  const groups: Record<string, ConformanceCase[]> = {
    contract: [
      {
        name: 'declares a name and whether it is local, and closes idempotently',
        run: async (f) => {
          expect(typeof f.store.name).toBe('string')
          expect(typeof f.store.local).toBe('boolean')
          await f.store.close()
        },
      },
    ],
  }
  for (const kind of POLICY_KINDS) {
    groups[kind.kind] = [
      ...sequenceCases(kind),
      ...isolationCases(kind),
      ...identifierCases(kind),
      ...concurrencyCases(kind),
    ]
  }
  groups['sliding-window']!.push(...slidingExactCases())
  groups['token-bucket']!.push(...bucketTierCases(POLICY_KINDS[2]!))
  groups['several policies on one request'] = [
    ...multiPolicyCases(POLICY_KINDS),
    ...concurrentSeveralCases(POLICY_KINDS),
  ]
  groups['calls in flight'] = inFlightCases(POLICY_KINDS)
  groups['two stores on one backend'] = sharedStateCases(POLICY_KINDS)
  const sets = traceSets((kind, name, quota) => POLICY_KINDS[kind]!.make(name, quota))
  groups['generated traces'] = Object.entries(sets).flatMap(([label, policies]) => traceCase(label, policies))
  return groups
}

/**
 * Runs the shared store cases (vitest `describe`/`it`) against `createStore`. Every decision is
 * compared with the pure reference (`evaluatePolicies`) under a manual clock and must be identical:
 * allowed, remaining, resetAtMs and retryAfterMs of every policy.
 *
 * ```ts
 * runStoreConformance({ name: 'memory', createStore: ({ clock }) => memoryStore({ clock }) })
 * ```
 */
export function runStoreConformance(options: StoreConformanceOptions): void {
  const timeoutMs = options.timeoutMs ?? 20_000
  describe(`${options.name} store conformance`, () => {
    for (const [group, all] of Object.entries(conformanceGroups())) {
      const cases = all.filter((c) => c.sharedState !== true || options.sharedState === true)
      if (cases.length === 0) continue
      describe(group, () => {
        for (const c of cases) it(c.name, withFixture(options, c.run), c.slow ? 2 * timeoutMs : timeoutMs)
      })
    }
  })
}
