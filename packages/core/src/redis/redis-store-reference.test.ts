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
