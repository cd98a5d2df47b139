import { randomUUID } from 'node:crypto'
import { describeRedis } from '@floodgate/tools'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRateLimiter, type RateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy } from '../policies/types.js'
import { redisStore } from '../redis/redis-store.js'
import { manualClock } from '../testing/manual-clock.js'

// Two app servers sharing one Redis, their clocks 30 s apart. Each "server" has its own client,
// store and limiter. With the default clock the script reads Redis's TIME, so the app clocks never
// enter a decision; an injected app clock (the `clock` option, for tests) would split the limit.

const RUN = randomUUID().slice(0, 8)
const SKEW_MS = 30_000

const DAY_MS = 86_400_000
// Windows of a day: the default-clock test runs on Redis's TIME (its point), where only midnight UTC
// can fall between its requests; an hour's end could split its count.
const POLICIES: [string, Policy][] = [
  ['fixed window', fixedWindow({ name: 'fw', limit: 5, window: '1 d' })],
  ['sliding window', slidingWindow({ name: 'sw', limit: 5, window: '1 d' })],
  ['token bucket', tokenBucket({ name: 'tb', capacity: 5, refillRate: 1, interval: '1 h' })],
]

/** Alternates 20 requests between the two servers; returns how many each admitted. */
async function alternate(a: RateLimiter, b: RateLimiter, id: string): Promise<[number, number]> {
  const admitted: [number, number] = [0, 0]
  for (let i = 0; i < 20; i++) {
    const side = i % 2
    if ((await (side === 0 ? a : b).limit(id)).allowed) admitted[side] = admitted[side]! + 1
  }
  return admitted
}

describeRedis('two app servers whose clocks are 30 s apart', (redisUrl) => {
  const clients: Redis[] = []
  const connect = async () => {
    const client = new Redis(redisUrl, { enableOfflineQueue: false, autoResendUnfulfilledCommands: false })
    await new Promise((resolve) => client.once('ready', resolve))
    clients.push(client)
    return client
  }
  let serverA: Redis
  let serverB: Redis
  beforeAll(async () => {
    serverA = await connect()
    serverB = await connect()
  })
  afterAll(() => {
    for (const c of clients) c.disconnect()
  })

  describe.each(POLICIES)('%s', (name, policy) => {
    it('admits exactly the limit between them on the default clock (Redis TIME), deciding at the same instant', async () => {
      const prefix = `skew-${RUN}-server-${policy.name}`
      const options = { policies: policy, prefix, denyCache: false as const, logger: false as const }
      const a = createRateLimiter({ ...options, store: redisStore({ client: serverA }) })
      const b = createRateLimiter({ ...options, store: redisStore({ client: serverB }) })
      expect(await alternate(a, b, 'client')).toEqual([3, 2])
      // Both decide on Redis's clock: B's answer right after A's is never earlier than it.
      const first = await a.peek('client')
      const second = await b.peek('client')
      expect(second.nowMs - first.nowMs).toBeGreaterThanOrEqual(0)
      expect(second.nowMs - first.nowMs).toBeLessThan(SKEW_MS)
    })

    const outcome = {
      'fixed window': [
        ' across a window boundary, each server counts its own window: the limit in each, 10 admitted',
        10,
      ],
      'sliding window': [
        ' across a window boundary, each server resets the window the other wrote: all 20 admitted',
        20,
      ],
      'token bucket': [', a refill of 1 per hour adds nothing: exactly the limit', 5],
    }[name as 'fixed window' | 'sliding window' | 'token bucket'] as [string, number]
    it(`with injected app clocks 30 s apart${outcome[0]}`, async () => {
      // 15 s before a day boundary: A decides in one day window, B (30 s ahead) in the next.
      const base = Math.floor(1_800_000_000_000 / DAY_MS) * DAY_MS + DAY_MS - 15_000
      const prefix = `skew-${RUN}-app-${policy.name}`
      const options = { policies: policy, prefix, denyCache: false as const, logger: false as const }
      const a = createRateLimiter({
        ...options,
        store: redisStore({ client: serverA, clock: manualClock(base) }),
      })
      const b = createRateLimiter({
        ...options,
        store: redisStore({ client: serverB, clock: manualClock(base + SKEW_MS) }),
      })
      const [fromA, fromB] = await alternate(a, b, 'client')
      const nowA = (await a.peek('client')).nowMs
      const nowB = (await b.peek('client')).nowMs
      expect(nowB - nowA).toBe(SKEW_MS)
      // Why the default is Redis's TIME: skewed app clocks straddling a window boundary decide in
      // different windows. A fixed window keeps one count per window index, so each server gets
      // the limit in its own window (twice the limit between them); a sliding window's one state
      // is restarted by each server in turn, so the limit never binds.
      expect(fromA + fromB).toBe(outcome[1])
    })
  })
})
