import { randomUUID } from 'node:crypto'
import { describeRedis } from '@floodgate/tools'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { evaluatePolicies } from '../policies/evaluate.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy, PolicyState } from '../policies/types.js'
import type { RateLimitStore } from '../store.js'
import { redisStore } from './redis-store.js'

// Differential test: the Lua script against the TypeScript reference transitions, step by step,
// on seeded random traces with an injected clock.

/** Keys of this run only: the shared Redis outlives test runs. */
const RUN = randomUUID().slice(0, 8)
let ioredis: Redis
let nodeRedis: ReturnType<typeof createClient>

/** Deterministic PRNG (mulberry32) so a failing trace can be replayed. */
function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const SETS: Record<string, Policy[]> = {
  'a fixed window': [fixedWindow({ name: 'f', limit: 7, window: 1_000 })],
  'a sliding window': [slidingWindow({ name: 's', limit: 9, window: 1_000 })],
  'a token bucket': [tokenBucket({ name: 'b', capacity: 6, refillRate: 3, interval: 700 })],
  'three policies at once': [
    tokenBucket({ name: 'burst', capacity: 5, refillRate: 2, interval: 300 }),
    slidingWindow({ name: 'minute', limit: 12, window: 2_000 }),
    fixedWindow({ name: 'day', limit: 20, window: 5_000 }),
  ],
  // limit × window just under 2^51: every product the maths forms stays exact.
  'products near 2^51': [
    slidingWindow({ name: 'big', limit: 26_062_000, window: 86_400_007 }),
    tokenBucket({ name: 'slow', capacity: 26_062_000, refillRate: 7_777_777, interval: 86_400_007 }),
  ],
}

/** Runs one seeded trace on a store whose clock reads `clock.nowMs`, comparing every answer. */
async function runTrace(
  store: RateLimitStore,
  clock: { nowMs: number },
  policies: Policy[],
  seed: number,
  prefix: string,
) {
  const rand = random(seed)
  clock.nowMs = 1_700_000_000_000 + Math.floor(rand() * 1e6)
  const ids = ['alice', 'bob{x}', '*']
  const states = new Map<string, (PolicyState | undefined)[]>()
  const maxCost = Math.max(...policies.map((p) => (p.kind === 'token-bucket' ? p.capacity : p.limit)))
  const period = Math.min(...policies.map((p) => (p.kind === 'token-bucket' ? p.intervalMs : p.windowMs)))
  for (let step = 0; step < 300; step++) {
    clock.nowMs += Math.floor(rand() ** 3 * period * 1.5)
    const id = ids[Math.floor(rand() * ids.length)]!
    const r = rand()
    const cost =
      r < 0.6
        ? 1
        : r < 0.8
          ? 1 + Math.floor(rand() * Math.min(maxCost, 4))
          : r < 0.95
            ? 1 + Math.floor((rand() * maxCost) / 2)
            : maxCost + 1
    const peek = rand() < 0.1
    if (rand() < 0.02) {
      await store.reset({ prefix, id, policies })
      states.delete(id)
      continue
    }
    const before = states.get(id) ?? policies.map(() => undefined)
    const expected = evaluatePolicies(policies, before, cost, clock.nowMs)
    const actual = await store.consume({ prefix, id, policies, cost, peek })
    expect({ step, ...actual }).toEqual({ step, nowMs: clock.nowMs, outcomes: expected.outcomes })
    if (expected.allowed && !peek)
      states.set(
        id,
        expected.transitions.map((t) => t.next),
      )
  }
}

describeRedis('redisStore against the reference transitions', (redisUrl) => {
  beforeAll(async () => {
    ioredis = new Redis(redisUrl, { enableOfflineQueue: true, autoResendUnfulfilledCommands: false })
    nodeRedis = createClient({ url: redisUrl })
    await nodeRedis.connect()
  })

  afterAll(async () => {
    ioredis?.disconnect()
    await nodeRedis?.close()
  })

  describe.each([
    ['ioredis', () => ioredis],
    ['node-redis', () => nodeRedis],
  ] as const)('redisStore on %s', (library, client) => {
    for (const [label, policies] of Object.entries(SETS)) {
      it(`gives the reference transitions' outcomes for ${label}`, async () => {
        for (const seed of [1, 2, 3]) {
          const clock = { nowMs: 0 }
          const store = redisStore({ client: client(), clock: () => clock.nowMs, logger: false })
          await runTrace(
            store,
            clock,
            policies,
            seed,
            `${RUN}-${library}-${label.replaceAll(' ', '-')}-${seed}`,
          )
        }
      })
    }
  })
})

// Hand-picked steps at the edges the random traces rarely land on (a cost equal to the quota, the
// very millisecond a bucket refills or its expiry falls, a 1 ms window, a tier switch on one
// key), each checked against the reference transitions on both clients.
interface EdgeStep {
  /** ms to advance the clock before the step */
  wait: number
  policies: Policy[]
  cost: number
  peek?: boolean
}

const bucketTier = (capacity: number) =>
  tokenBucket({ name: 'burst', capacity, refillRate: 2, interval: 10_000 })

const EDGES: Record<string, EdgeStep[]> = {
  'a fixed window: a cost equal to the limit, with some used, waits for the next window': [
    { wait: 0, policies: [fixedWindow({ name: 'f', limit: 5, window: 1_000 })], cost: 1 },
    { wait: 100, policies: [fixedWindow({ name: 'f', limit: 5, window: 1_000 })], cost: 5 },
    { wait: 100, policies: [fixedWindow({ name: 'f', limit: 5, window: 1_000 })], cost: 6 },
  ],
  'a sliding window: a cost equal to the limit, with some used, waits for the window to slide': [
    { wait: 0, policies: [slidingWindow({ name: 's', limit: 5, window: 1_000 })], cost: 1 },
    { wait: 100, policies: [slidingWindow({ name: 's', limit: 5, window: 1_000 })], cost: 5 },
    { wait: 100, policies: [slidingWindow({ name: 's', limit: 5, window: 1_000 })], cost: 6 },
  ],
  'a 1 ms sliding window: nothing left once the previous window weighs it all': [
    { wait: 0, policies: [slidingWindow({ name: 's1', limit: 3, window: 1 })], cost: 3 },
    { wait: 1, policies: [slidingWindow({ name: 's1', limit: 3, window: 1 })], cost: 1 },
    { wait: 0, policies: [slidingWindow({ name: 's1', limit: 3, window: 1 })], cost: 1, peek: true },
  ],
  'a token bucket whose capacity its refill rate does not divide is full at its reset instant': [
    { wait: 0, policies: [tokenBucket({ name: 'b', capacity: 1, refillRate: 3, interval: 10 })], cost: 1 },
    { wait: 3, policies: [tokenBucket({ name: 'b', capacity: 1, refillRate: 3, interval: 10 })], cost: 1 },
    { wait: 1, policies: [tokenBucket({ name: 'b', capacity: 1, refillRate: 3, interval: 10 })], cost: 1 },
  ],
  "a larger tier's bucket at the very millisecond the smaller tier's expiry falls": [
    { wait: 0, policies: [bucketTier(2)], cost: 2 },
    // At the expiry (10 s: 2 tokens at 2 per 10 s) the state still counts: 2 tokens of 6.
    { wait: 10_000, policies: [bucketTier(6)], cost: 6, peek: true },
    { wait: 0, policies: [bucketTier(6)], cost: 6 },
    // 1 ms past it the bucket reads full.
    { wait: 1, policies: [bucketTier(6)], cost: 6 },
  ],
  "a smaller tier's charge keeps a larger tier's expiry, which lapses like any other": [
    { wait: 0, policies: [bucketTier(6)], cost: 6 },
    // Kept until the larger bucket is full: 30 s from the first charge, plus 5 s for this token.
    { wait: 5_000, policies: [bucketTier(2)], cost: 1 },
    // Past that, the state reads as a full bucket of 2 again, with its own expiry.
    { wait: 35_000, policies: [bucketTier(2)], cost: 1 },
    // A denial of the larger tier is bounded by that expiry.
    { wait: 1_000, policies: [bucketTier(6)], cost: 6, peek: true },
  ],
  "a smaller tier's charge that leaves tokens keeps the larger expiry only by what it took": [
    { wait: 0, policies: [bucketTier(6)], cost: 6 },
    // Full again under 2 tokens, it takes 1: kept 5 s past the larger bucket's 30 s.
    { wait: 10_000, policies: [bucketTier(2)], cost: 1 },
    // A still larger tier's denial is bounded by that expiry (35 s), not its own refill (50 s).
    { wait: 2_000, policies: [bucketTier(9)], cost: 9, peek: true },
  ],
  "a charge before the bucket's own expiry moves the expiry by its refill, rounded once": [
    {
      wait: 0,
      policies: [tokenBucket({ name: 'odd', capacity: 2, refillRate: 3, interval: 1_000 })],
      cost: 1,
    },
    {
      wait: 100,
      policies: [tokenBucket({ name: 'odd', capacity: 2, refillRate: 3, interval: 1_000 })],
      cost: 1,
    },
    // The larger tier's denial is bounded by that expiry, to the millisecond.
    {
      wait: 100,
      policies: [tokenBucket({ name: 'odd', capacity: 5, refillRate: 3, interval: 1_000 })],
      cost: 5,
      peek: true,
    },
  ],
  // 1 token per ms: the larger tier's expiry falls 1 ms after its charge, and a smaller tier that
  // the stored tokens overfill still keeps it (tokens ≥ its capacity: full at the charge itself).
  "a smaller tier's charge in the millisecond before a larger tier's expiry keeps it": [
    { wait: 0, policies: [tokenBucket({ name: 'ms', capacity: 5, refillRate: 1, interval: 1 })], cost: 1 },
    { wait: 0, policies: [tokenBucket({ name: 'ms', capacity: 2, refillRate: 1, interval: 1 })], cost: 1 },
    // Kept until 4 ms after the first charge: 3 of 5 tokens, not a full bucket.
    { wait: 2, policies: [tokenBucket({ name: 'ms', capacity: 5, refillRate: 1, interval: 1 })], cost: 5 },
  ],
  // Two charges in one millisecond: the refill since the state's charge is nothing, not 1 ms's worth.
  "a smaller tier's charge in the larger tier's own millisecond keeps its expiry by what it took": [
    { wait: 0, policies: [tokenBucket({ name: 'ms', capacity: 5, refillRate: 1, interval: 1 })], cost: 3 },
    { wait: 0, policies: [tokenBucket({ name: 'ms', capacity: 2, refillRate: 1, interval: 1 })], cost: 1 },
    // Kept until 4 ms after: at 5 ms a still larger tier reads a full bucket.
    {
      wait: 5,
      policies: [tokenBucket({ name: 'ms', capacity: 9, refillRate: 1, interval: 1 })],
      cost: 1,
      peek: true,
    },
  ],
  "a larger tier's denial whose refill ends 2 ms after the smaller tier's expiry": [
    { wait: 0, policies: [tokenBucket({ name: 'ms', capacity: 2, refillRate: 1, interval: 1 })], cost: 2 },
    {
      wait: 0,
      policies: [tokenBucket({ name: 'ms', capacity: 4, refillRate: 1, interval: 1 })],
      cost: 4,
      peek: true,
    },
  ],
}

describeRedis('redisStore at the edges of the reference transitions', (redisUrl) => {
  let io: Redis
  let nr: ReturnType<typeof createClient>
  beforeAll(async () => {
    io = new Redis(redisUrl, { enableOfflineQueue: true, autoResendUnfulfilledCommands: false })
    nr = createClient({ url: redisUrl })
    await nr.connect()
  })
  afterAll(async () => {
    io?.disconnect()
    await nr?.close()
  })

  /** Seeded steps on one token bucket key whose capacity (the tier) changes from step to step. */
  const tierSwitches = (seed: number, tiers: Policy[], maxWaitMs: number): EdgeStep[] => {
    const rand = random(seed)
    return Array.from({ length: 120 }, () => {
      const policy = tiers[Math.floor(rand() * tiers.length)]!
      const capacity = policy.kind === 'token-bucket' ? policy.capacity : 1
      return {
        // One step in five in the same millisecond as the one before.
        wait: rand() < 0.2 ? 0 : Math.floor(rand() ** 2 * maxWaitMs),
        policies: [policy],
        cost: 1 + Math.floor(rand() * capacity),
        peek: rand() < 0.15,
      }
    })
  }
  // A refill of 3 per second does not divide the scaled capacities (tokens × 1,000): every
  // rounding up of the expiry arithmetic shows.
  const oddTier = (capacity: number) => tokenBucket({ name: 'odd', capacity, refillRate: 3, interval: 1_000 })
  for (const seed of [1, 2, 3, 4]) {
    EDGES[`a token bucket switching tiers, seed ${seed}`] = tierSwitches(
      seed,
      [bucketTier(2), bucketTier(5), bucketTier(9)],
      12_000,
    )
    EDGES[`a token bucket switching tiers at an odd refill rate, seed ${seed}`] = tierSwitches(
      seed,
      [oddTier(2), oddTier(5), oddTier(11)],
      1_500,
    )
  }

  for (const [label, steps] of Object.entries(EDGES)) {
    it.each(['ioredis', 'node-redis'] as const)(`${label} (%s)`, async (library) => {
      const clock = { nowMs: 1_800_000_000_000 }
      const store = redisStore({
        client: library === 'ioredis' ? io : nr,
        clock: () => clock.nowMs,
        logger: false,
      })
      const prefix = `${RUN}-edge-${library}-${label.replaceAll(' ', '-')}`
      // Reference state per counter, as the store keys it (policy name, kind and period).
      const states = new Map<string, PolicyState | undefined>()
      const keyOf = (p: Policy) =>
        `${p.name}:${p.kind}:${p.kind === 'token-bucket' ? p.intervalMs : p.windowMs}`
      for (const [step, { wait, policies, cost, peek = false }] of steps.entries()) {
        clock.nowMs += wait
        const expected = evaluatePolicies(
          policies,
          policies.map((p) => states.get(keyOf(p))),
          cost,
          clock.nowMs,
        )
        const actual = await store.consume({ prefix, id: 'edge', policies, cost, peek })
        expect({ step, ...actual }).toEqual({ step, nowMs: clock.nowMs, outcomes: expected.outcomes })
        if (expected.allowed && !peek) {
          for (const [i, p] of policies.entries()) states.set(keyOf(p), expected.transitions[i]!.next)
        }
      }
    })
  }
})
