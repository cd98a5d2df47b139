import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Decision } from '../decision.js'
import { createRateLimiter, type RateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy } from '../policies/types.js'
import type { RateLimitStore } from '../store.js'
import { manualClock } from '../testing/manual-clock.js'
import { fixedWindowModel, type PolicyModel, slidingWindowModel, tokenBucketModel } from './policy-models.js'

// Property tests of DESIGN §3 for any store: random traces of time steps, costs and two
// identifiers, decided by createRateLimiter on the store and by the independent models of
// policy-models.ts. Exported so every store runs the same properties:
//
//   policyProperties('redis', (clock) => redisStore({ client, clock }))

/** Makes the store under test, reading time from `clock` (epoch ms, never moving backward). */
export type PropertyStoreFactory = (clock: () => number) => RateLimitStore | Promise<RateLimitStore>

export interface PolicyPropertyOptions {
  /** Traces per property. Default 1,000. */
  numRuns?: number
  /** fast-check seed, to replay a failure. Default: random (printed on failure). */
  seed?: number
  /** Per-test timeout in ms. Default 60,000. */
  timeoutMs?: number
}

/** One policy and a fresh model of it. */
interface PolicyCase {
  policy: Policy
  model: () => PolicyModel
}

interface Step {
  id: 'a' | 'b'
  waitMs: number
  cost: number
}

/** Window lengths of a few hundred ms, so short traces cross many boundaries. */
const periodMs = fc.integer({ min: 20, max: 1_500 })
const quota = fc.integer({ min: 1, max: 6 })

const fixedCase = fc.record({ limit: quota, windowMs: periodMs }).map(
  ({ limit, windowMs }): PolicyCase => ({
    policy: fixedWindow({ name: 'fw', limit, window: windowMs }),
    model: () => fixedWindowModel(limit, windowMs),
  }),
)
const slidingCase = fc.record({ limit: quota, windowMs: periodMs }).map(
  ({ limit, windowMs }): PolicyCase => ({
    policy: slidingWindow({ name: 'sw', limit, window: windowMs }),
    model: () => slidingWindowModel(limit, windowMs),
  }),
)
const bucketCase = fc
  .record({ capacity: quota, refillRate: fc.integer({ min: 1, max: 3 }), intervalMs: periodMs })
  .map(
    ({ capacity, refillRate, intervalMs }): PolicyCase => ({
      policy: tokenBucket({ name: 'tb', capacity, refillRate, interval: intervalMs }),
      model: () => tokenBucketModel(capacity, refillRate, intervalMs),
    }),
  )

/** Mostly small steps (several requests per window), sometimes a pause of a few windows. */
const steps = fc.array(
  fc.record({
    id: fc.constantFrom<'a' | 'b'>('a', 'a', 'b'),
    waitMs: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: 120 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 4_000 }) },
    ),
    cost: fc.oneof(
      { weight: 4, arbitrary: fc.constant(1) },
      { weight: 2, arbitrary: fc.integer({ min: 1, max: 7 }) },
    ),
  }),
  { minLength: 1, maxLength: 30 },
)

/**
 * Registers the policy properties for one store: each policy alone, and a fixed window with a
 * token bucket on one request (all-or-nothing), each over `numRuns` traces.
 */
export function policyProperties(
  storeName: string,
  createStore: PropertyStoreFactory,
  options: PolicyPropertyOptions = {},
): void {
  const { numRuns = 1_000, seed, timeoutMs = 60_000 } = options
  const cases: [string, fc.Arbitrary<PolicyCase[]>][] = [
    ['fixed window', fixedCase.map((c) => [c])],
    ['sliding window', slidingCase.map((c) => [c])],
    ['token bucket', bucketCase.map((c) => [c])],
    ['fixed window + token bucket', fc.tuple(fixedCase, bucketCase)],
  ]
  // Prefixes unique per call, case and trace: stores on a shared Redis start every trace empty.
  const namespace = `prop-${randomUUID().slice(0, 8)}`
  describe(`${storeName} store: policies against an independent model (${numRuns} traces each)`, () => {
    for (const [caseIndex, [name, policyCases]] of cases.entries()) {
      it(
        `${name}: admits exactly what the model admits, denials change nothing, remaining stays in [0, limit], Retry-After is honest`,
        async () => {
          const clock = manualClock(1_800_000_000_000)
          const store = await createStore(clock)
          let run = 0
          try {
            await fc.assert(
              fc.asyncProperty(policyCases, steps, async (policyList, trace) => {
                // A fresh prefix per trace, and time only moves forward: one store serves every run.
                run++
                clock.advance(10_000 + (run % 997))
                const limiter = createRateLimiter({
                  policies: policyList.map((c) => c.policy),
                  store,
                  prefix: `${namespace}-${caseIndex}-${run}`,
                  logger: false,
                  denyCache: false,
                  // Properties of the policies, not of timeouts: on a loaded machine a round trip
                  // could outlast the default 250 ms and read as a store error.
                  timeout: '10 s',
                })
                await checkTrace(limiter, clock, policyList, trace)
              }),
              { numRuns, seed },
            )
          } finally {
            await store.close()
          }
        },
        timeoutMs,
      )
    }
  })
}

async function checkTrace(
  limiter: RateLimiter,
  clock: ReturnType<typeof manualClock>,
  policyList: readonly PolicyCase[],
  trace: readonly Step[],
): Promise<void> {
  const models = { a: policyList.map((c) => c.model()), b: policyList.map((c) => c.model()) }
  const quota = Math.min(...policyList.map((c) => c.model().quota))
  let last: { decision: Decision; step: Step } | undefined
  for (const step of trace) {
    clock.advance(step.waitMs)
    const nowMs = clock()
    const own = models[step.id]
    const expected = own.every((m) => m.admits(nowMs, step.cost))
    const decision = await limiter.limit(step.id, { cost: step.cost })
    const context = `${step.id} cost ${step.cost} at +${nowMs % 100_000}`
    expect(decision.nowMs, context).toBe(nowMs)
    expect(decision.allowed, context).toBe(expected)
    decision.policies.forEach((part, i) => {
      expect(part.allowed, `${context} ${part.name}`).toBe(own[i]!.admits(nowMs, step.cost))
      expect(part.remaining).toBeGreaterThanOrEqual(0)
      expect(part.remaining).toBeLessThanOrEqual(part.limit)
    })
    if (own.length === 1)
      expect(decision.remaining, context).toBe(own[0]!.remaining(nowMs, step.cost, expected))
    if (expected) {
      expect(decision).toMatchObject({ reason: 'allowed', retryAfterMs: 0 })
      for (const m of own) m.admit(nowMs, step.cost)
      for (const m of own) expect(m.breach(), context).toBeUndefined()
    } else {
      await expectDenialHonest(limiter, decision, own, step, quota, context)
    }
    last = { decision, step }
  }
  // Waiting out the last denial for real: one ms early is still denied, then it is admitted.
  if (last !== undefined && last.decision.reason === 'limited') {
    const { retryAfterMs } = last.decision
    if (retryAfterMs > 1) {
      clock.advance(retryAfterMs - 1)
      expect((await limiter.limit(last.step.id, { cost: last.step.cost })).allowed).toBe(false)
      clock.advance(1)
    } else {
      clock.advance(retryAfterMs)
    }
    expect((await limiter.limit(last.step.id, { cost: last.step.cost })).allowed).toBe(true)
  }
}

async function expectDenialHonest(
  limiter: RateLimiter,
  decision: Decision,
  models: readonly PolicyModel[],
  step: Step,
  quota: number,
  context: string,
): Promise<void> {
  const { nowMs, retryAfterMs } = decision
  if (step.cost > quota) {
    expect(decision, context).toMatchObject({
      reason: 'cost-exceeds-limit',
      retryAfterMs: Number.POSITIVE_INFINITY,
    })
    return
  }
  expect(decision.reason, context).toBe('limited')
  expect(retryAfterMs, context).toBeGreaterThanOrEqual(1)
  // The earliest instant at which the same request is admitted if nothing else arrives.
  expect(
    models.every((m) => m.admits(nowMs + retryAfterMs, step.cost)),
    `${context}: admitted after ${retryAfterMs} ms`,
  ).toBe(true)
  expect(
    models.every((m) => m.admits(nowMs + retryAfterMs - 1, step.cost)),
    `${context}: not admitted 1 ms earlier`,
  ).toBe(false)
  // A denial changed nothing: asking again at the same instant gives the same answer.
  const again = await limiter.peek(step.id, { cost: step.cost })
  expect(again, context).toEqual(decision)
}
