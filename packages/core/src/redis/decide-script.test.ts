import { createHash, randomUUID } from 'node:crypto'
import { describeRedis } from '@floodgate/tools'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { evaluatePolicies } from '../policies/evaluate.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy, PolicyState } from '../policies/types.js'
import { DECIDE_SCRIPT, DECIDE_SHA1 } from './decide-script.js'
import { redisStore } from './redis-store.js'

describe('the decision script', () => {
  it('is run by the SHA1 fixed beside it', () => {
    expect(createHash('sha1').update(DECIDE_SCRIPT).digest('hex')).toBe(DECIDE_SHA1)
  })
})

// The script called directly, mostly one request per call under an injected clock (its nowMs and
// TTL slack in ARGV, as the store sends them): what it writes and the edges the stores' traces do
// not reach (TTLs to the ms, batches, deadlines, 15-digit counts, clocks that disagree).

/** Keys of this run only: the shared Redis outlives test runs. */
const RUN = randomUUID().slice(0, 8)
const NOW = 1_999_987_200_000
const SLACK = 60_000

describeRedis('the decision script on Redis', (redisUrl) => {
  let redis: Redis
  beforeAll(async () => {
    redis = new Redis(redisUrl)
  })
  afterAll(() => redis?.disconnect())

  /** One request (`<cost>:<kind> <limit> <period> <rate>;`) at `nowMs`: its reply's integers. */
  const decide = async (key: string, nowMs: number, request: string): Promise<number[]> =>
    ((await redis.eval(DECIDE_SCRIPT, 1, key, String(nowMs), String(SLACK), '0', request)) as number[]).map(
      Number,
    )

  /**
   * How many ms past `server + ttlMs` the key expires, `server` the TIME the reply ends with. Redis
   * sets the expiry by its own clock a few µs after the script's TIME: as a rule in the same ms.
   */
  const lateMs = async (key: string, reply: number[], ttlMs: number): Promise<number> =>
    Number(await redis.call('PEXPIRETIME', key)) - (reply.at(-1)! + ttlMs)

  it("gives every write a TTL of its transition's expiry plus the slack, to the millisecond", async () => {
    const late: number[] = []
    for (let i = 0; i < 8; i++) {
      const nowMs = NOW + 1_234 + i
      // A fixed window's key expires with its window, a sliding window's with the one after, and a
      // token bucket's when it is full again (2 tokens at 3 per second: 667 ms).
      const fixed = `${RUN}:ttl:fixed:${i}`
      late.push(
        await lateMs(fixed, await decide(fixed, nowMs, '1:1 5 10000 0;'), NOW + 10_000 - nowMs + SLACK),
      )
      const sliding = `${RUN}:ttl:sliding:${i}`
      late.push(
        await lateMs(sliding, await decide(sliding, nowMs, '1:2 5 10000 0;'), NOW + 20_000 - nowMs + SLACK),
      )
      const bucket = `${RUN}:ttl:bucket:${i}`
      late.push(await lateMs(bucket, await decide(bucket, nowMs, '2:3 5 1000 3;'), 667 + SLACK))
    }
    expect(late.filter((ms) => ms === 0).length).toBeGreaterThan(late.length / 2)
  })

  it('heals a key found without a TTL on a denial with the TTL its write would have had', async () => {
    const late: number[] = []
    for (let i = 0; i < 8; i++) {
      const nowMs = NOW + 1_234 + i
      const key = `${RUN}:heal:${i}`
      await decide(key, nowMs, '5:1 5 10000 0;')
      await redis.persist(key)
      const denied = await decide(key, nowMs, '1:1 5 10000 0;')
      expect(denied.slice(1, 5)).toEqual([0, 0, NOW + 10_000 - nowMs, NOW + 10_000 - nowMs])
      late.push(await lateMs(key, denied, NOW + 10_000 - nowMs + SLACK))
    }
    expect(late.filter((ms) => ms === 0).length).toBeGreaterThan(late.length / 2)
  })

  it("sets a fixed window's TTL at its first write in a window only", async () => {
    const key = `${RUN}:first-write`
    await decide(key, NOW, '1:1 5 10000 0;')
    // Another TTL than the one the script gives (a restore, say): a later write leaves it.
    await redis.pexpire(key, 5_000_000)
    const expiresAt = Number(await redis.call('PEXPIRETIME', key))
    expect((await decide(key, NOW + 1, '1:1 5 10000 0;')).slice(1, 3)).toEqual([1, 3])
    expect(Number(await redis.call('PEXPIRETIME', key))).toBe(expiresAt)
  })

  it('heals no TTL on a peek: a peek changes nothing, denied or not', async () => {
    const key = `${RUN}:peek-no-heal`
    await decide(key, NOW, '5:1 5 10000 0;')
    await redis.persist(key)
    expect((await decide(key, NOW, '1p:1 5 10000 0;')).slice(1, 3)).toEqual([0, 0])
    expect(await redis.pttl(key)).toBe(-1)
    expect(await redis.hgetall(key)).toEqual({ [String(NOW / 10_000)]: '5' })
  })

  it("counts nothing in a batch run in its deadline's millisecond, and answers the server's TIME", async () => {
    const serverNowMs = async () => {
      const [seconds, micros] = await redis.time()
      return Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000)
    }
    const skipped: unknown[] = []
    for (let i = 0; i < 8; i++) {
      const key = `${RUN}:deadline:${i}`
      // The deadline on the server's clock: this very millisecond, or one the script runs after.
      // Every other call under an injected clock, which the reply's TIME is not.
      const [nowMs, slack] = i % 2 === 0 ? ['', ''] : [String(NOW), String(SLACK)]
      const deadline = await serverNowMs()
      const reply = (await redis.eval(
        DECIDE_SCRIPT,
        1,
        key,
        nowMs,
        slack,
        String(deadline),
        '1:1 5 10000 0;',
      )) as number[]
      const after = await serverNowMs()
      skipped.push([
        reply[0],
        reply[1]! >= deadline && reply[1]! <= after,
        reply.length,
        await redis.exists(key),
      ])
    }
    expect(skipped).toEqual(Array.from({ length: 8 }, () => [-1, true, 2, 0]))
  })

  it('heals, and bounds a denial by, the keys of its own request in a batch', async () => {
    const serverNowMs = async () => {
      const [seconds, micros] = await redis.time()
      return Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000)
    }
    // Two requests in one call, on the server's clock: a peek at a key that does not exist, then a
    // peek at an earlier version's empty bucket (charged a minute ahead: no refill) expiring in 3 s.
    const [fresh, old] = [`${RUN}:batch:fresh`, `${RUN}:batch:old`]
    await redis.set(old, `b0:${(await serverNowMs()) + 60_000}`, 'PX', 3_000)
    const expiresAt = Number(await redis.call('PEXPIRETIME', old))
    const peeked = (await redis.eval(
      DECIDE_SCRIPT,
      2,
      fresh,
      old,
      '',
      '',
      '0',
      '1p:3 4 1000 1;',
      '4p',
    )) as number[]
    const nowMs = peeked[0]!
    expect(peeked).toEqual([nowMs, 1, 3, 1_000, 0, 0, 0, expiresAt + 1 - nowMs, expiresAt + 1 - nowMs])

    // A charge, then a denial of a key found without a TTL: the denial heals that key.
    const [charged, persisted] = [`${RUN}:batch:charged`, `${RUN}:batch:persisted`]
    await decide(persisted, NOW, '5:1 5 10000 0;')
    await redis.persist(persisted)
    await redis.eval(
      DECIDE_SCRIPT,
      2,
      charged,
      persisted,
      String(NOW),
      String(SLACK),
      '0',
      '1:1 5 10000 0;',
      '1',
    )
    expect(await redis.hgetall(persisted)).toEqual({ [String(NOW / 10_000)]: '5' })
    expect(await redis.pttl(persisted)).toBeGreaterThan(0)
  })

  it('keeps counts of 15 digits exactly in the values it writes', async () => {
    // Lua's own number to string conversion keeps 14 digits (5e+14): such a value would not parse,
    // and would read as no state. Half of the largest limit, twice in one millisecond.
    const half = 500_000_000_000_000
    const sliding = `${RUN}:digits:sliding`
    const swPolicy = '2 999999999999999 2 0;'
    expect((await decide(sliding, NOW, `${half}:${swPolicy}`)).slice(1, 3)).toEqual([1, half - 1])
    expect((await decide(sliding, NOW, `${half}:${swPolicy}`)).slice(1, 3)).toEqual([0, half - 1])
    const bucket = `${RUN}:digits:bucket`
    const tbPolicy = '3 999999999999999 2 1;'
    expect((await decide(bucket, NOW, `${half}:${tbPolicy}`)).slice(1, 3)).toEqual([1, half - 1])
    expect((await decide(bucket, NOW, `${half}:${tbPolicy}`)).slice(1, 3)).toEqual([0, half - 1])
  })

  it("charges a token bucket value without its expiry field (an earlier version's) and writes all three", async () => {
    const key = `${RUN}:legacy-bucket`
    // 3 of 5 tokens (× 1,000 ms) at NOW, 3 tokens a second: full again 1 s later.
    await redis.set(key, `b3000:${NOW}`, 'PX', 100_000)
    const reply = await decide(key, NOW + 1_000, '1:3 5 1000 3;')
    expect(reply.slice(0, 5)).toEqual([NOW + 1_000, 1, 4, 334, 0])
    expect(await redis.get(key)).toBe(`b4000:${NOW + 1_000}:${NOW + 1_334}`)
  })

  it("decides as the reference transitions for a process whose clock reads before the key's last charge", async () => {
    // Two processes share the counters, one's clock 1 s behind the other's: a bucket charged at a
    // later instant than the reader's refills nothing before it (the reference's max(0, elapsed)).
    const ahead = { nowMs: NOW }
    const behind = { nowMs: NOW - 1_000 }
    const stores = {
      ahead: redisStore({ client: redis, clock: () => ahead.nowMs, logger: false }),
      behind: redisStore({ client: redis, clock: () => behind.nowMs, logger: false }),
    }
    const clocks = { ahead, behind }
    const tier = (capacity: number) =>
      tokenBucket({ name: 'burst', capacity, refillRate: 2, interval: 10_000 })
    const steps: { on: 'ahead' | 'behind'; wait: number; policy: Policy; cost: number; peek?: boolean }[] = [
      // 1 of 6 tokens taken: the larger tier's expiry is 5 s later.
      { on: 'ahead', wait: 0, policy: tier(6), cost: 1 },
      // Read 1 s before that charge: 5 tokens, no less, and 3 of them taken.
      { on: 'behind', wait: 0, policy: tier(6), cost: 3, peek: true },
      // The smaller tier's charge keeps the larger expiry by what it takes and cuts off, as of then.
      { on: 'behind', wait: 0, policy: tier(2), cost: 1 },
      // A still larger tier's denial is bounded by that expiry, to the millisecond.
      { on: 'ahead', wait: 10_000, policy: tier(9), cost: 9, peek: true },
    ]
    const prefix = `${RUN}-clocks`
    let state: PolicyState | undefined
    for (const [step, { on, wait, policy, cost, peek = false }] of steps.entries()) {
      ahead.nowMs += wait
      behind.nowMs += wait
      const expected = evaluatePolicies([policy], [state], cost, clocks[on].nowMs)
      const actual = await stores[on].consume({ prefix, id: 'k', policies: [policy], cost, peek })
      expect({ step, ...actual }).toEqual({ step, nowMs: clocks[on].nowMs, outcomes: expected.outcomes })
      if (expected.allowed && !peek) state = expected.transitions[0]!.next
    }
  })
})
