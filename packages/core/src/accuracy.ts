// Accuracy of the policies on a simulated clock: which requests of one identifier each policy
// admits, and the most it admits in any rolling window. Deterministic (a manual clock, no timers):
// `pnpm bench accuracy` prints these figures and accuracy.test.ts holds the docs' claims to them.
import { createRateLimiter } from './limiter.js'
import type { Policy } from './policies/types.js'
import { memoryStore } from './stores/memory-store.js'

/** An epoch-aligned start (a multiple of every window used), so t = 1000 ms is a window boundary. */
export const SIMULATION_START_MS = 1_700_000_000_000

export interface Scenario {
  name: string
  /** Arrival times in ms since SIMULATION_START_MS, ascending. */
  arrivalsMs: readonly number[]
  /** The period the allowed rate is measured over: admitted ÷ (limit per second × durationMs / 1000). */
  durationMs: number
}

export interface AccuracyResult {
  /** Requests that arrived. */
  arrived: number
  /** Requests admitted. */
  admitted: number
  /** Most admissions in any interval [s, s + windowMs), over all admission timestamps. */
  maxInAnyWindow: number
  /** admitted ÷ (allowed per window × durationMs ÷ windowMs). */
  shareOfAllowedRate: number
}

/** `limitPerSecond` requests per second, evenly spaced at ms resolution, for `durationMs`. */
export function steadyArrivals(requestsPerSecond: number, durationMs: number): number[] {
  const count = (requestsPerSecond * durationMs) / 1000
  return Array.from({ length: count }, (_, i) => Math.floor((i * 1000) / requestsPerSecond))
}

/** The scenarios of the accuracy table (limit 100 per second, one identifier). */
export const ACCURACY_SCENARIOS: readonly Scenario[] = [
  {
    name: 'steady 4× overload, 400 req/s for 10 s',
    arrivalsMs: steadyArrivals(400, 10_000),
    durationMs: 10_000,
  },
  {
    name: 'boundary burst: t = 0, then every ms from 900 to 1100',
    arrivalsMs: [0, ...Array.from({ length: 201 }, (_, i) => 900 + i)],
    durationMs: 1_100,
  },
  {
    // The sliding window's worst case: the previous window's whole quota at its very end, then
    // steady demand: it assumes that quota was spread evenly, so it lets too much through early.
    name: 'sliding worst case: 100 at t = 999, then every ms from 1000 to 1999',
    arrivalsMs: [
      ...Array.from({ length: 100 }, () => 999),
      ...Array.from({ length: 1000 }, (_, i) => 1000 + i),
    ],
    durationMs: 2_000,
  },
]

/** Admission times (ms since SIMULATION_START_MS) of one identifier under `policies`. */
export async function simulateAdmissions(
  policies: Policy | readonly Policy[],
  arrivalsMs: readonly number[],
): Promise<number[]> {
  let nowMs = SIMULATION_START_MS
  const store = memoryStore({ clock: () => nowMs })
  const limiter = createRateLimiter({ policies, store })
  const admitted: number[] = []
  for (const t of arrivalsMs) {
    nowMs = SIMULATION_START_MS + t
    if ((await limiter.limit('client')).allowed) admitted.push(t)
  }
  await limiter.close()
  await store.close()
  return admitted
}

/** Most of the ascending `timesMs` inside any half-open interval [s, s + windowMs). Exact. */
export function maxInAnyWindow(timesMs: readonly number[], windowMs: number): number {
  let best = 0
  let start = 0
  for (let end = 0; end < timesMs.length; end++) {
    while (timesMs[end]! - timesMs[start]! >= windowMs) start++
    best = Math.max(best, end - start + 1)
  }
  return best
}

/** Runs one scenario against a policy allowing `limit` per `windowMs`. */
export async function measureAccuracy(
  policies: Policy | readonly Policy[],
  scenario: Scenario,
  limit: number,
  windowMs: number,
): Promise<AccuracyResult> {
  const admitted = await simulateAdmissions(policies, scenario.arrivalsMs)
  return {
    arrived: scenario.arrivalsMs.length,
    admitted: admitted.length,
    maxInAnyWindow: maxInAnyWindow(admitted, windowMs),
    shareOfAllowedRate: admitted.length / ((limit * scenario.durationMs) / windowMs),
  }
}
