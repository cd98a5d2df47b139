import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy } from '../policies/types.js'
import type { ConformanceCase } from './conformance-fixture.js'
import { quotaOf } from './policy-kinds.js'

/** A small seeded PRNG (mulberry32): the same seed gives the same trace on every run and store. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

const SEEDS = [1, 2, 3] as const
const STEPS = 400
const IDS = ['t', 't:1', '*'] as const

/** Named policy sets for traces; "large" holds quotas and periods near the exact-arithmetic bounds. */
export function traceSets(make: (kind: number, name: string, quota: number) => Policy) {
  return {
    'fixed-window': [make(0, 'tf', 7)],
    'sliding-window': [make(1, 'ts', 7)],
    'token-bucket': [make(2, 'tt', 7)],
    'all three': [make(0, 'af', 6), make(1, 'as', 9), make(2, 'at', 5)],
    'large quotas and a one-day period': [
      fixedWindow({ name: 'lf', limit: 9_000_000, window: '1 d' }),
      slidingWindow({ name: 'ls', limit: 10_000_000, window: '1 d' }),
      tokenBucket({ name: 'lt', capacity: 8_000_000, refillRate: 7_777, interval: '1 d' }),
    ],
  } satisfies Record<string, Policy[]>
}

function periodOf(policy: Policy): number {
  return policy.kind === 'token-bucket' ? policy.intervalMs : policy.windowMs
}

/**
 * Seeded traces of consumes, peeks and resets with time steps that favour boundary instants,
 * compared decision by decision with the reference model.
 */
export function traceCase(label: string, policies: readonly Policy[]): ConformanceCase[] {
  const cases: ConformanceCase[] = []
  cases.push({
    name: `matches the reference on generated traces: ${label}`,
    run: async (f) => {
      const periodMs = Math.max(...policies.map(periodOf))
      const quota = Math.max(...policies.map(quotaOf))
      for (const seed of SEEDS) {
        const random = seededRandom(seed)
        const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1))
        const prefix = f.newPrefix()
        for (let step = 0; step < STEPS; step++) {
          const r = random()
          const now = f.clock()
          if (r < 0.35) {
            // same instant
          } else if (r < 0.6) f.clock.advance(int(1, Math.ceil(periodMs / 10)))
          else if (r < 0.8) {
            // the last ms of a window, the first of the next, or one after it
            const next = (Math.floor(now / periodMs) + 1) * periodMs
            f.clock.set(next + int(-1, 1))
          } else if (r < 0.95) f.clock.advance(int(0, periodMs))
          else f.clock.advance(int(periodMs, 3 * periodMs))
          const c = random()
          const cost = c < 0.6 ? 1 : c < 0.9 ? int(1, Math.ceil(quota / 2)) : int(1, quota + 2)
          const id = IDS[int(0, IDS.length - 1)]!
          const op = random()
          const where = `seed ${seed} step ${step}`
          if (op < 0.04) await f.reset(id, policies, prefix)
          else await f.step({ id, policies, cost, peek: op < 0.16, prefix }, where)
        }
      }
    },
  })
  return cases
}
