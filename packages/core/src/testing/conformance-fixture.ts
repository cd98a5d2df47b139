import { expect } from 'vitest'
import type { Policy, PolicyOutcome } from '../policies/types.js'
import type { RateLimitStore, StoreResponse } from '../store.js'
import { type ManualClock, manualClock } from './manual-clock.js'
import { type ReferenceModel, referenceModel } from './reference-model.js'

/** How a store's test file runs the shared cases. */
export interface StoreConformanceOptions {
  /** Shown in the test names, e.g. `"memory"` or `"redis (ioredis)"`. */
  name: string
  /**
   * Makes a store reading time only from `clock`. Called once per case; the store may be backed by
   * shared state (a Redis server): every case uses its own prefix and never expects an empty store.
   */
  createStore: (context: { clock: () => number }) => RateLimitStore | Promise<RateLimitStore>
  /**
   * Whether two stores made by `createStore` share their counters, as the stores of two processes on
   * one Redis do. Then the kit also runs its cases across two instances: a store that is atomic only
   * within one instance (a lock or a queue in the process) fails them. Default false (a memory store).
   */
  sharedState?: boolean | undefined
  /** Runs after each case, after `store.close()`: release what `createStore` opened. */
  cleanup?: ((store: RateLimitStore) => void | Promise<void>) | undefined
  /** Timeout of each case in ms. Default 20,000 (cases of thousands of calls get twice that). */
  timeoutMs?: number | undefined
}

/** One shared case: a name and a body run against a fresh fixture. */
export interface ConformanceCase {
  name: string
  run(fixture: Fixture): Promise<void>
  /** A case of thousands of calls (10,000 at once, or 2,800 in a row): twice the usual timeout. */
  slow?: boolean
  /** Run only for stores whose instances share their counters (`sharedState`). */
  sharedState?: boolean
}

/** One request to a store, with the defaults of the kit filled in. */
export interface Step {
  id: string
  policies: readonly Policy[]
  cost?: number
  peek?: boolean
  /** Default: the fixture's own prefix. */
  prefix?: string
}

/** A store under test, its clock and the reference model it is compared with. */
export interface Fixture {
  readonly store: RateLimitStore
  readonly clock: ManualClock
  /** A prefix no other case (or earlier run against the same server) uses. */
  readonly prefix: string
  readonly model: ReferenceModel
  /** Sends `step` to the store and to the model and asserts identical answers. */
  step(step: Step, label?: string): Promise<StoreResponse>
  /** Resets `id` on the store and on the model. */
  reset(id: string, policies: readonly Policy[], prefix?: string): Promise<void>
  /** Another unique prefix, for prefix-isolation cases. */
  newPrefix(): string
  /**
   * A second store from `createStore`, on the same clock (for `sharedState` cases: another process
   * on the same backend). Closed and cleaned up with the case.
   */
  otherStore(): Promise<RateLimitStore>
}

/** A day boundary (2033-05-18 UTC), so every window of the kit starts on a multiple of its length. */
export const CONFORMANCE_START_MS = 1_999_987_200_000

const runToken = Math.random().toString(36).slice(2, 8)
let prefixCount = 0

function uniquePrefix(): string {
  prefixCount += 1
  return `fg-conf-${runToken}-${prefixCount}`
}

/** The four numbers that must be identical on every store. */
function project(outcome: PolicyOutcome | undefined) {
  if (outcome === undefined) return undefined
  const { allowed, remaining, resetAtMs, retryAfterMs } = outcome
  return { allowed, remaining, resetAtMs, retryAfterMs }
}

const FIELDS = ['allowed', 'remaining', 'resetAtMs', 'retryAfterMs'] as const

/** The first field that differs, named, for the assertion's one-line message (empty when none). */
function firstDifference(
  policies: readonly Policy[],
  actual: readonly (ReturnType<typeof project> | undefined)[],
  expected: readonly (ReturnType<typeof project> | undefined)[],
): string {
  if (actual.length !== expected.length) return `: ${actual.length} outcomes for ${expected.length} policies`
  for (const [i, want] of expected.entries()) {
    for (const field of FIELDS) {
      const got = actual[i]?.[field]
      if (got !== want?.[field])
        return `: ${policies[i]!.name}.${field} is ${got}, the reference's ${want?.[field]}`
    }
  }
  return ''
}

/** Wraps a case body: a fresh store and clock, compared with a fresh reference model. */
export function withFixture(
  options: StoreConformanceOptions,
  body: (fixture: Fixture) => Promise<void>,
): () => Promise<void> {
  return async () => {
    const clock = manualClock(CONFORMANCE_START_MS)
    const store = await options.createStore({ clock })
    const model = referenceModel()
    const prefix = uniquePrefix()
    const others: RateLimitStore[] = []
    const fixture: Fixture = {
      store,
      clock,
      prefix,
      model,
      async step(step, label = '') {
        const request = {
          prefix: step.prefix ?? prefix,
          id: step.id,
          policies: step.policies,
          cost: step.cost ?? 1,
          peek: step.peek ?? false,
        }
        const expected = model.consume(request, clock())
        const actual = await store.consume(request)
        const where = `${label} at +${clock() - CONFORMANCE_START_MS} ms: ${request.peek ? 'peek' : 'consume'} id ${JSON.stringify(request.id)} cost ${request.cost} [${request.policies.map((p) => p.name).join(', ')}]`
        expect(actual.nowMs, `${where}: nowMs`).toBe(expected.nowMs)
        const actualOutcomes = actual.outcomes.map(project)
        const expectedOutcomes = expected.outcomes.map(project)
        expect(
          actualOutcomes,
          where + firstDifference(request.policies, actualOutcomes, expectedOutcomes),
        ).toEqual(expectedOutcomes)
        return actual
      },
      async reset(id, policies, resetPrefix = prefix) {
        model.reset({ prefix: resetPrefix, id, policies })
        await store.reset({ prefix: resetPrefix, id, policies })
      },
      newPrefix: uniquePrefix,
      async otherStore() {
        const other = await options.createStore({ clock })
        others.push(other)
        return other
      },
    }
    try {
      await body(fixture)
    } finally {
      for (const s of [store, ...others]) {
        await s.close()
        await options.cleanup?.(s)
      }
    }
  }
}
