import {
  createRateLimiter,
  fixedWindow,
  memoryStore,
  type Policy,
  slidingWindow,
  tokenBucket,
} from '../../packages/core/src/index.js'

/** Epoch ms the simulation starts at: a multiple of every window, so windows start at t = 0. */
export const START_MS = 1_700_000_000_000
/** Length of the simulated trace in ms. */
export const DURATION_MS = 5_000
/** The nominal rate every policy enforces: 10 requests per second. */
export const LIMIT = 10
export const WINDOW_MS = 1_000
/** How often the remaining quota is sampled for the line, in ms. */
export const SAMPLE_EVERY_MS = 10

/** The three policies at the same nominal rate. */
export const PICTURED_POLICIES: readonly Policy[] = [
  fixedWindow({ name: 'fixed', limit: LIMIT, window: WINDOW_MS }),
  slidingWindow({ name: 'sliding', limit: LIMIT, window: WINDOW_MS }),
  tokenBucket({ name: 'bucket', capacity: LIMIT, refillRate: LIMIT, interval: WINDOW_MS }),
]

function every(fromMs: number, toMs: number, stepMs: number): number[] {
  const times: number[] = []
  for (let t = fromMs; t <= toMs; t += stepMs) times.push(t)
  return times
}

/**
 * The bursty trace, in ms since the start: a burst just before and one just after a window
 * boundary (where a fixed window admits twice its limit), a steady stretch at exactly the
 * nominal rate, a long burst after a pause, and a tail at twice the rate.
 */
export const TRACE_MS: readonly number[] = Object.freeze([
  ...every(700, 975, 25),
  ...every(1_000, 1_275, 25),
  ...every(1_600, 2_900, 100),
  ...every(3_300, 3_775, 25),
  ...every(4_000, 4_950, 50),
])

/** One request of the trace and the limiter's answer. */
export interface SimulatedRequest {
  /** Ms since the start of the trace. */
  atMs: number
  allowed: boolean
}

/** The remaining quota (what `RateLimit: r=` would show) at one instant. */
export interface QuotaSample {
  atMs: number
  /** Requests the policy would admit right now before denying: whole units. */
  remaining: number
}

export interface Simulation {
  policy: Policy
  requests: SimulatedRequest[]
  samples: QuotaSample[]
}

/**
 * Runs the trace through a real limiter on a memory store driven by a manual clock. The line is
 * sampled with `peek`, which changes nothing, so sampling cannot alter the decisions.
 */
export async function simulate(policy: Policy, traceMs: readonly number[] = TRACE_MS): Promise<Simulation> {
  let nowMs = START_MS
  const limiter = createRateLimiter({ policies: policy, store: memoryStore({ clock: () => nowMs }) })
  const requests: SimulatedRequest[] = []
  const samples: QuotaSample[] = []
  const sample = async (atMs: number): Promise<void> => {
    const d = await limiter.peek('client')
    // A peek that would be admitted reports the quota after charging it; add that unit back.
    samples.push({ atMs, remaining: d.remaining + (d.allowed ? 1 : 0) })
  }
  const ticks = every(0, DURATION_MS, SAMPLE_EVERY_MS)
  let next = 0
  for (const atMs of ticks) {
    while (next < traceMs.length && traceMs[next]! <= atMs) {
      const requestMs = traceMs[next++]!
      nowMs = START_MS + requestMs
      await sample(requestMs)
      const d = await limiter.limit('client')
      requests.push({ atMs: requestMs, allowed: d.allowed })
      await sample(requestMs)
    }
    if (samples.at(-1)?.atMs !== atMs) {
      nowMs = START_MS + atMs
      await sample(atMs)
    }
  }
  await limiter.close()
  return { policy, requests, samples }
}
