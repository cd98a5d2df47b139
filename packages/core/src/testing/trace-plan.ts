import { seededRandom } from './cases-traces.js'
import { type ModelDecision, periodOf, quotaOf, TraceModel, type TracePolicy } from './trace-model.js'

// Seeded plans for the adapter traces: a limiter configuration and a list of requests at given
// instants, each with what the independent model (trace-model.ts) says it must get. A plan is made
// before any request is sent, so every framework version runs exactly the same one.

/** The `headers` option values the traces cycle through (undefined: the default). */
export const HEADER_OPTIONS = [
  undefined,
  'draft-8',
  'draft-7',
  'draft-6',
  'legacy',
  ['draft-8', 'legacy'],
  ['draft-7', 'legacy'],
  ['legacy', 'draft-6'],
  false,
] as const

export type HeaderOption = (typeof HEADER_OPTIONS)[number]

/** A trace's limiter and middleware configuration. */
export interface TraceConfig {
  /** The policies of a limiter without tiers. */
  policies?: TracePolicy[]
  /** Tiers and their default, instead of `policies`. */
  tiers?: Record<string, TracePolicy[]>
  defaultTier?: string
  shadow: boolean
  headers: HeaderOption
  /**
   * Which callbacks the middleware has, and which of them answer with a promise. Without `key`, it
   * has none: every request counts under the client address, decided without a promise.
   */
  key: boolean
  cost: boolean
  tier: boolean
  skip: boolean
  async: { key: boolean; cost: boolean; tier: boolean; skip: boolean }
  startMs: number
}

/** One request of a trace and what it must get. */
export interface TraceStep {
  /** The store clock when the request is sent, epoch ms (never earlier than the step before). */
  atMs: number
  /** Request headers the callbacks read: x-id, x-cost, x-tier, x-skip. */
  headers: Record<string, string>
  /** The model's decision; undefined for a skipped request. */
  decision: ModelDecision | undefined
  /** The cost the model charged (or would have). */
  cost: number
}

export interface TracePlan {
  seed: number
  config: TraceConfig
  steps: TraceStep[]
}

const NAMES = ['per.sec', 'burst_1', 'daily-x'] as const

/** Builds the plan of `seed`: `steps` requests on one limiter. */
export function tracePlan(seed: number, stepCount: number): TracePlan {
  const random = seededRandom(seed)
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1))
  const pick = <T>(list: readonly T[]): T => list[int(0, list.length - 1)]!
  const chance = (p: number) => random() < p

  // One trace in six has large quotas and long periods: the exact integer arithmetic at scale.
  const large = chance(1 / 6)
  const quota = (max: number) => (large ? int(1, max) * 997 : int(1, max))
  const period = (...seconds: number[]) => pick(seconds) * (large ? 600_000 : 1000)
  const policy = (name: string): TracePolicy => {
    const kind = int(0, 2)
    if (kind === 0) return { kind: 'fixed-window', name, limit: quota(6), windowMs: period(1, 2, 5) }
    if (kind === 1) return { kind: 'sliding-window', name, limit: quota(8), windowMs: period(1, 2, 4) }
    return { kind: 'token-bucket', name, capacity: quota(6), refillRate: quota(3), intervalMs: period(1, 3) }
  }
  const base = Array.from({ length: int(1, 2) }, (_, i) => policy(NAMES[i]!))
  const config: TraceConfig = {
    shadow: chance(0.3),
    headers: HEADER_OPTIONS[seed % HEADER_OPTIONS.length],
    key: false,
    cost: false,
    tier: false,
    skip: false,
    async: { key: chance(0.5), cost: chance(0.5), tier: chance(0.5), skip: chance(0.5) },
    startMs: 1_800_000_000_000 + int(0, 59_999),
  }
  if (chance(0.8)) {
    config.key = true
    config.cost = chance(0.8)
    config.skip = chance(0.6)
  }
  if (chance(0.4)) {
    // Same names, kinds and periods in both tiers; window limits differ (one counter, two limits).
    // Buckets keep their parameters: a capacity that changes with the tier is outside DESIGN §3.
    const pro = base.map((p) => (p.kind === 'token-bucket' ? p : { ...p, limit: quota(10) }))
    if (chance(0.5)) pro.push(policy(NAMES[2]))
    config.tiers = { free: base, pro }
    config.defaultTier = pick(['free', 'pro'])
    config.tier = config.key
  } else {
    config.policies = base
  }

  const model = new TraceModel()
  const all = [...(config.policies ?? []), ...Object.values(config.tiers ?? {}).flat()]
  const steps: TraceStep[] = []
  let nowMs = config.startMs
  let lastDenied: { step: TraceStep; retryAtMs: number } | undefined
  for (let i = 0; i < stepCount; i++) {
    const r = random()
    let headers: Record<string, string> | undefined
    if (r < 0.3) {
      // same instant
    } else if (r < 0.5) nowMs += int(1, 700)
    else if (r < 0.7) {
      // the last ms of a window, its end, or one ms after
      const periodMs = periodOf(pick(all))
      nowMs = (Math.floor(nowMs / periodMs) + 1) * periodMs + int(-1, 1)
    } else if (r < 0.82 && lastDenied !== undefined) {
      // the same request 1 ms before, at, or 1 ms after the model's earliest admission
      nowMs = Math.max(nowMs, lastDenied.retryAtMs + int(-1, 1))
      headers = lastDenied.step.headers
    } else if (r < 0.95) nowMs += int(0, 5000)
    else nowMs += int(5000, 15_000)

    headers ??= requestHeaders(config, int, pick, chance)
    const step: TraceStep = {
      atMs: nowMs,
      headers,
      decision: undefined,
      cost: Number(headers['x-cost'] ?? 1),
    }
    if (headers['x-skip'] !== '1') {
      const decision = model.decide(
        headers['x-id'] ?? 'client',
        policiesOf(config, headers['x-tier']),
        step.cost,
        nowMs,
      )
      step.decision = decision
      const retryAfterMs = decision.binding.retryAfterMs
      if (!decision.allowed && Number.isFinite(retryAfterMs))
        lastDenied = { step, retryAtMs: nowMs + retryAfterMs }
    }
    steps.push(step)
  }
  return { seed, config, steps }
}

function requestHeaders(
  config: TraceConfig,
  int: (min: number, max: number) => number,
  pick: <T>(list: readonly T[]) => T,
  chance: (p: number) => boolean,
): Record<string, string> {
  const headers: Record<string, string> = {}
  if (config.key) headers['x-id'] = pick(['a', 'b', 'c'])
  if (config.tier) {
    const tier = pick([undefined, 'free', 'pro', 'gold'])
    if (tier !== undefined) headers['x-tier'] = tier
  }
  if (config.cost) {
    const quota = Math.max(...policiesOf(config, headers['x-tier']).map(quotaOf))
    const c = int(0, 19)
    // Mostly none (cost 1); some up to the largest quota (above a smaller one's); a few above it.
    if (c >= 13) headers['x-cost'] = String(c < 19 ? int(1, quota) : int(quota + 1, quota + 2))
  }
  if (config.skip && chance(0.1)) headers['x-skip'] = '1'
  return headers
}

/** The policies that apply to a request: an unknown or missing tier gets the default tier's. */
export function policiesOf(config: TraceConfig, tier: string | undefined): TracePolicy[] {
  if (config.tiers === undefined) return config.policies!
  if (tier !== undefined && Object.hasOwn(config.tiers, tier)) return config.tiers[tier]!
  return config.tiers[config.defaultTier!]!
}
