import {
  describeRedisServer,
  type RedisServer,
  startRedisServer,
  startUpstashServer,
  type UpstashServer,
} from '@floodgate/tools'
import { Redis as UpstashRedis } from '@upstash/redis'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRateLimiter, type RateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import { memoryStore } from '../stores/memory-store.js'
import { manualClock } from '../testing/index.js'
import { upstashStore } from '../upstash/upstash-store.js'
import { DECIDE_SCRIPT } from './decide-script.js'
import { counterKey } from './keys.js'
import { redisStore } from './redis-store.js'
import { MAX_BATCH } from './script-store.js'

// Round trips, TTLs and the deny cache, measured on a private Redis so INFO commandstats counts
// only this file's commands.

/** Commands Redis ran, by name, from INFO commandstats. */
async function commandCounts(admin: Redis): Promise<Map<string, number>> {
  const info = await admin.info('commandstats')
  const counts = new Map<string, number>()
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts.set(m[1]!, Number(m[2]))
  return counts
}

/** Commands the decision script itself calls: commandstats counts them too. */
const INSIDE_SCRIPT = new Set([
  'get',
  'set',
  'hget',
  'hincrby',
  'hlen',
  'hkeys',
  'hdel',
  'del',
  'pexpire',
  'pttl',
  'pexpiretime',
  'time',
])

/** Commands clients sent between two snapshots (not INFO, not the script's own calls). */
function delta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [name, calls] of after) {
    const d = calls - (before.get(name) ?? 0)
    if (d > 0 && name !== 'info' && !INSIDE_SCRIPT.has(name)) out[name] = d
  }
  return out
}

/**
 * A clock that stands still (a day boundary), for tests whose point is not Redis's own clock: on
 * it an hour's end between their steps would change the counts or keys they assert.
 */
const still = () => 1_999_987_200_000

const twoPolicies = [
  tokenBucket({ name: 'burst', capacity: 5, refillRate: 1, interval: '1 s' }),
  slidingWindow({ name: 'minute', limit: 8, window: '1 m' }),
]

describeRedisServer('redisStore on a private Redis', () => {
  let server: RedisServer
  let admin: Redis
  let ioredis: Redis
  let nodeRedis: ReturnType<typeof createClient>
  let upstash: UpstashServer

  beforeAll(async () => {
    server = await startRedisServer()
    upstash = await startUpstashServer({ redisUrl: server.url })
    admin = new Redis(server.url)
    ioredis = new Redis(server.url, { enableOfflineQueue: false, autoResendUnfulfilledCommands: false })
    await new Promise((resolve) => ioredis.once('ready', resolve))
    nodeRedis = createClient({ url: server.url, disableOfflineQueue: true })
    await nodeRedis.connect()
  })
  afterAll(async () => {
    ioredis?.disconnect()
    await nodeRedis?.close()
    admin?.disconnect()
    await upstash?.stop()
    await server?.stop()
  })

  it("decides under fake timers that hold process.nextTick back (Jest's defaults)", async () => {
    // Jest's default fake timers fake nextTick: a batch sent from it never went out, the test
    // hung, and every later decision of the store waited out its timeout as a store failure.
    // On node-redis, whose own commands do not wait on nextTick (ioredis's do, under this
    // stand-in stricter than Jest's sandbox, where its commands were seen to go out).
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 2, window: '1 h' }),
      store: redisStore({ client: nodeRedis, clock: still }),
      prefix: `faked-tick-${Date.now()}`,
      denyCache: false,
    })
    // As Jest's fakes do (vitest cannot fake nextTick in a forked worker): held until released.
    const held: (() => void)[] = []
    const { nextTick } = process
    process.nextTick = ((callback: (...args: unknown[]) => void, ...args: unknown[]) =>
      void held.push(() => callback(...args))) as typeof process.nextTick
    try {
      const reasons = []
      for (let i = 0; i < 3; i++) reasons.push((await limiter.limit('t')).reason)
      expect(reasons).toEqual(['allowed', 'allowed', 'limited'])
    } finally {
      process.nextTick = nextTick
      for (const callback of held) callback()
    }
    expect((await limiter.peek('t')).reason).toBe('limited')
  })

  describe.each([
    ['ioredis', (clock?: () => number) => redisStore({ client: ioredis, clock }), () => ioredis],
    ['node-redis', (clock?: () => number) => redisStore({ client: nodeRedis, clock }), () => nodeRedis],
  ] as const)('through %s', (library, makeStore, client) => {
    it('runs one EVALSHA per decision and nothing else, two-policy requests and denials included', async () => {
      const limiter = createRateLimiter({
        policies: twoPolicies,
        store: makeStore(),
        prefix: `rt-${library}`,
        denyCache: false,
      })
      await limiter.limit('warm-up') // loads the script once (NOSCRIPT → EVAL) if needed
      const before = await commandCounts(admin)
      const reasons: string[] = []
      for (let i = 0; i < 12; i++) reasons.push((await limiter.limit('client')).reason)
      await limiter.peek('client')
      const after = await commandCounts(admin)
      expect(reasons).toContain('limited')
      expect(delta(before, after)).toEqual({ evalsha: 13 })
    })

    it('sends the decisions started in one tick together, at most MAX_BATCH per EVALSHA, each as if sent alone', async () => {
      const clock = manualClock(1_999_987_200_000)
      const config = {
        tiers: {
          free: [fixedWindow({ name: 'f', limit: 4, window: '1 m' }), ...twoPolicies],
          pro: [fixedWindow({ name: 'f', limit: 9, window: '1 m' })],
        },
        defaultTier: 'free',
        prefix: `batch-${library}-${Date.now()}`,
        denyCache: false,
      } as const
      const onRedis = createRateLimiter({ ...config, store: redisStore({ client: client(), clock }) })
      const inMemory = createRateLimiter({ ...config, store: memoryStore({ clock }) })
      // Repeated identifiers, costs, peeks, two tiers: later calls must see the earlier calls' writes.
      const calls = Array.from({ length: 2 * MAX_BATCH + 7 }, (_, i) => ({
        id: `user-${i % 5}`,
        peek: i % 6 === 5,
        options: { tier: i % 4 === 3 ? 'pro' : 'free', cost: 1 + (i % 3 === 2 ? 1 : 0) },
      }))
      const run = (limiter: RateLimiter) =>
        Promise.all(
          calls.map((c) => (c.peek ? limiter.peek(c.id, c.options) : limiter.limit(c.id, c.options))),
        )
      await onRedis.limit('warm-up') // loads the script once (NOSCRIPT → EVAL) if needed
      await inMemory.limit('warm-up')
      const before = await commandCounts(admin)
      const decisions = await run(onRedis)
      expect(delta(before, await commandCounts(admin))).toEqual({ evalsha: 3 })
      expect(decisions).toEqual(await run(inMemory))
      expect(new Set(decisions.map((d) => d.reason))).toEqual(new Set(['allowed', 'limited']))

      // A clock that moves between two calls of one tick starts a new batch: each sees its own time.
      const moved = [onRedis, inMemory].map((limiter) => {
        const first = limiter.limit('user-0')
        clock.advance(60_000)
        const second = limiter.limit('user-0')
        clock.advance(-60_000)
        return Promise.all([first, second])
      })
      clock.advance(60_000)
      const [redisMoved, memoryMoved] = await Promise.all(moved)
      expect(redisMoved).toEqual(memoryMoved)
      expect(redisMoved!.map((d) => d.reason)).toEqual(['limited', 'allowed'])
    })

    it('sends a decision queued in this tick before a reset made after it', async () => {
      const limiter = createRateLimiter({
        policies: fixedWindow({ limit: 3, window: '1 h' }),
        store: makeStore(still),
        prefix: `order-${library}-${Date.now()}`,
        denyCache: false,
      })
      expect((await limiter.limit('r')).remaining).toBe(2)
      const [decision] = await Promise.all([limiter.limit('r'), limiter.reset('r')])
      expect(decision.remaining).toBe(1)
      // Reset after that decision: the next request would be the first again (peek counts itself).
      expect((await limiter.peek('r')).remaining).toBe(2)
    })

    it.each([
      // Two stores made from one client count in one place: a reset through one used to reach
      // Redis before a decision queued on the other in the same tick, which then counted after the DEL.
      ['another store of the same client', false],
      // Closing that store took it off its client's list of open stores, so the reset no longer
      // sent its queued decision first.
      ['another store of the same client, closed in the same tick', true],
    ])('sends a decision queued on %s before a reset made after it', async (_where, closing) => {
      const options = {
        policies: fixedWindow({ limit: 3, window: '1 h' }),
        prefix: `order-two-${library}-${closing}-${Date.now()}`,
        denyCache: false as const,
        silenceWarnings: ['WARN_FLOODGATE_SHARED_COUNTERS' as const],
      }
      const store = makeStore(still)
      const a = createRateLimiter({ ...options, store })
      const b = createRateLimiter({ ...options, store: makeStore(still) })
      expect((await a.limit('r')).remaining).toBe(2)
      const queued = a.limit('r')
      const closed = closing ? store.close() : undefined
      const [decision] = await Promise.all([queued, b.reset('r'), closed])
      expect(decision.remaining).toBe(1)
      expect((await b.peek('r')).remaining).toBe(2)
    })

    it('keeps that order when the script cache was flushed: the decision is not run again after the reset', async () => {
      const failures: unknown[] = []
      const limiter = createRateLimiter({
        policies: fixedWindow({ limit: 3, window: '1 h' }),
        store: makeStore(),
        prefix: `order-flush-${library}-${Date.now()}`,
        denyCache: false,
        logger: false,
        onStoreFailure: (error) => void failures.push(error),
      })
      expect((await limiter.limit('r')).remaining).toBe(2)
      await admin.script('FLUSH')
      // NOSCRIPT: Redis ran nothing, and sending it again as EVAL would land after the DEL.
      const [decision] = await Promise.all([limiter.limit('r'), limiter.reset('r')])
      expect(decision.reason).toBe('store-error')
      expect(failures).toHaveLength(1)
      expect((await limiter.peek('r')).remaining).toBe(2)
      // Without a reset of its keys in between, a NOSCRIPT decision is sent again as EVAL, as ever.
      await admin.script('FLUSH')
      const [again] = await Promise.all([limiter.limit('r'), limiter.reset('someone-else')])
      expect(again.remaining).toBe(2)
      expect(failures).toHaveLength(1)
    })

    it('sends a decision made after a reset after its DEL, whatever else is in flight', async () => {
      const limiter = createRateLimiter({
        policies: fixedWindow({ limit: 3, window: '1 h' }),
        store: makeStore(still),
        prefix: `order-after-${library}-${Date.now()}`,
        denyCache: false,
      })
      await limiter.limit('r')
      await limiter.limit('r')
      const other = limiter.limit('other')
      await new Promise((resolve) => setImmediate(resolve))
      const [, decision] = await Promise.all([limiter.reset('r'), limiter.limit('r'), other])
      expect(decision.remaining).toBe(2)
      expect((await limiter.peek('r')).remaining).toBe(1)
    })

    it('leaves no Floodgate key without a TTL after a long mixed run, and heals one it finds', async () => {
      const prefix = `ttl-${library}`
      const limiter = createRateLimiter({
        tiers: {
          // Windows of a day: on Redis's clock an hour's end between SCAN and PTTL would take keys.
          free: [fixedWindow({ name: 'f', limit: 3, window: '1 d' }), ...twoPolicies],
          pro: [
            fixedWindow({ name: 'f', limit: 30, window: '1 d' }),
            tokenBucket({ name: 'burst', capacity: 9, refillRate: 1, interval: '1 s' }),
          ],
        },
        defaultTier: 'free',
        store: makeStore(),
        prefix,
        denyCache: false,
      })
      for (let i = 0; i < 400; i++) {
        const id = `user-${i % 17}{${i % 3}}`
        const tier = i % 5 === 0 ? 'pro' : 'free'
        if (i % 50 === 49) await limiter.reset(id)
        else if (i % 7 === 0) await limiter.peek(id, { tier })
        else await limiter.limit(id, { tier, cost: 1 + (i % 4 === 0 ? 2 : 0) })
      }
      const keys: string[] = []
      let cursor = '0'
      do {
        const [next, batch] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
        cursor = next
        keys.push(...batch)
      } while (cursor !== '0')
      expect(keys.length).toBeGreaterThan(20)
      const ttls = await Promise.all(keys.map((k) => admin.pttl(k)))
      expect(ttls.filter((t) => t < 0)).toEqual([])

      // A key stripped of its TTL (a restore, a PERSIST) gets one back on the next denial (a day's
      // window: an hour's end before it would admit the request).
      const denied = createRateLimiter({
        policies: fixedWindow({ name: 'f', limit: 1, window: '1 d' }),
        store: makeStore(),
        prefix: `heal-${library}`,
        denyCache: false,
      })
      await denied.limit('x')
      const [key] = await admin.keys(`heal-${library}:*`)
      await admin.persist(key!)
      expect((await denied.limit('x')).reason).toBe('limited')
      const healed = await admin.pttl(key!)
      expect(healed).toBeGreaterThan(0)
      // Until the window's end, no later: the key's state means nothing after it.
      expect(healed).toBeLessThanOrEqual(86_400_000)

      // Under an injected clock the healed TTL carries the slack too, as every write's does.
      const clock = manualClock(1_999_987_200_000)
      const injected = createRateLimiter({
        policies: fixedWindow({ name: 'f', limit: 1, window: '1 h' }),
        store: redisStore({ client: client(), clock }),
        prefix: `heal-injected-${library}-${Date.now()}`,
        denyCache: false,
      })
      await injected.limit('x')
      const [injectedKey] = await admin.keys(`heal-injected-${library}-*`)
      await admin.persist(injectedKey!)
      expect((await injected.limit('x')).reason).toBe('limited')
      expect((await injected.peek('x')).reason).toBe('limited')
      expect(await admin.pttl(injectedKey!)).toBeGreaterThan(3_600_000)
    })

    it("keeps a token bucket's value with its expiry, which the key outlives only under an injected clock", async () => {
      const bucket = tokenBucket({ name: 'b', capacity: 4, refillRate: 1, interval: '1 s' })
      const client = library === 'ioredis' ? ioredis : nodeRedis
      const valueAfterCharge = async (clock?: () => number) => {
        const prefix = `bucket-${library}-${clock === undefined ? 'server' : 'injected'}-${Date.now()}`
        const limiter = createRateLimiter({ policies: bucket, store: redisStore({ client, clock }), prefix })
        expect((await limiter.limit('k', { cost: 2 })).remaining).toBe(2)
        const [key] = await admin.keys(`${prefix}:*`)
        return { value: await admin.get(key!), pttl: await admin.pttl(key!) }
      }
      // The server's clock: the key itself expires when the bucket is full again (2 tokens, 2 s).
      const onServer = await valueAfterCharge()
      const [, charged, expires] = /^b2000:(\d+):(\d+)$/.exec(onServer.value ?? '') ?? []
      expect(Number(expires) - Number(charged)).toBe(2_000)
      expect(onServer.pttl).toBeGreaterThan(0)
      expect(onServer.pttl).toBeLessThanOrEqual(2_000)
      // An injected clock: the key outlives that instant by the slack, so the value carries it.
      const clock = manualClock(1_999_987_200_000)
      const injected = await valueAfterCharge(clock)
      expect(injected.value).toBe(`b2000:${1_999_987_200_000}:${1_999_987_202_000}`)
      expect(injected.pttl).toBeGreaterThan(2_000)
    })

    it("times a denial by a token bucket key's expiry on the server's clock, when a tier's larger bucket shares it", async () => {
      const burst = (capacity: number) =>
        tokenBucket({ name: 'burst', capacity, refillRate: 2, interval: '10 s' })
      const prefix = `expiry-${library}-${Date.now()}`
      const limiter = createRateLimiter({
        tiers: { free: [burst(2)], pro: [burst(6)] },
        defaultTier: 'free',
        store: makeStore(),
        prefix,
      })
      const charged = await limiter.limit('t', { cost: 2 })
      expect(charged.remaining).toBe(0)
      // The bucket's value carries its expiry: when the free bucket is full again, by the script's
      // TIME. 1 ms past it the pro bucket reads full too, long before refilling 6 tokens would be
      // (30 s). The key itself expires then or a millisecond later (Redis sets that instant by its
      // own clock when the script writes the key), never before.
      const [key] = await admin.keys(`${prefix}:*`)
      const expiresAtMs = Number(/^b\d+:\d+:(\d+)$/.exec((await admin.get(key!)) ?? '')?.[1])
      expect(Number(await admin.call('PEXPIRETIME', key!))).toBeGreaterThanOrEqual(expiresAtMs)
      const pro = await limiter.peek('t', { tier: 'pro', cost: 6 })
      expect(pro.allowed).toBe(false)
      expect(pro.resetAtMs).toBe(expiresAtMs + 1)
      expect(pro.retryAfterMs).toBe(expiresAtMs + 1 - pro.nowMs)
    })

    it('keeps a fixed window as one hash field per window, and at most the window before when a key outlives its window', async () => {
      // With an injected clock a key lives its window plus a slack, so it sees later windows.
      const clock = manualClock(1_999_987_200_000)
      const prefix = `fields-${library}-${Date.now()}`
      const limiter = createRateLimiter({
        policies: fixedWindow({ name: 'f', limit: 3, window: '1 s' }),
        store: redisStore({ client: library === 'ioredis' ? ioredis : nodeRedis, clock }),
        prefix,
        denyCache: false,
      })
      for (let i = 0; i < 3; i++) expect((await limiter.limit('k')).remaining).toBe(2 - i)
      const [key] = await admin.keys(`${prefix}:*`)
      const window = 1_999_987_200_000 / 1_000
      expect(await admin.hgetall(key!)).toEqual({ [window]: '3' })
      expect((await limiter.limit('k')).reason).toBe('limited')
      expect(await admin.hgetall(key!)).toEqual({ [window]: '3' }) // a denial writes nothing
      const fields: number[] = []
      for (const step of [1_000, 1_000, 1_000, 5_000, 1_000]) {
        clock.advance(step)
        expect((await limiter.limit('k')).remaining).toBe(2)
        fields.push(await admin.hlen(key!))
        expect(await admin.pttl(key!)).toBeGreaterThan(0)
      }
      expect(fields).toEqual([2, 2, 2, 1, 2])
      expect(Object.keys(await admin.hgetall(key!)).map(Number)).toEqual([window + 8, window + 9])
    })

    it("drops a fixed window's older fields on the server's clock too, where a busy key outlives each window", async () => {
      // A key expires with its window, but Redis removes it only after that instant: a request in
      // the next window's first ms finds it, and a busy key gets one in every window. Its fields
      // are laid out here as such a key would have them, on a day window no test run can cross.
      const prefix = `server-fields-${library}-${Date.now()}`
      const limiter = createRateLimiter({
        policies: fixedWindow({ name: 'f', limit: 5, window: '1 d' }),
        store: makeStore(),
        prefix,
        denyCache: false,
      })
      const first = await limiter.limit('k')
      const window = Math.floor(first.nowMs / 86_400_000)
      const [key] = await admin.keys(`${prefix}:*`)
      await admin.hdel(key!, String(window))
      await admin.hset(key!, String(window - 3), '5', String(window - 2), '5', String(window - 1), '4')
      expect((await limiter.limit('k')).remaining).toBe(4)
      expect(await admin.hgetall(key!)).toEqual({ [window - 1]: '4', [window]: '1' })
      expect(await admin.pttl(key!)).toBeGreaterThan(0)
    })

    it("takes a given clock's fractional readings in whole ms, as the memory store does", async () => {
      // performance.timeOrigin + performance.now(): refused, it made every decision a store failure.
      const limiter = createRateLimiter({
        policies: fixedWindow({ limit: 2, window: '10 s' }),
        store: redisStore({
          client: library === 'ioredis' ? ioredis : nodeRedis,
          clock: () => 1_999_987_200_000.75,
        }),
        prefix: `fractional-${library}-${Date.now()}`,
      })
      expect(await limiter.limit('a')).toMatchObject({ reason: 'allowed', nowMs: 1_999_987_200_000 })
    })

    it("keeps a sliding window's counter on the server's clock for two windows, no longer, and limits by it", async () => {
      // The default clock: no injected clock's slack hides a TTL that is too short. A day's window:
      // an hour's end among the steps would carry the count into the previous window's place.
      const prefix = `sliding-ttl-${library}-${Date.now()}`
      const limiter = createRateLimiter({
        policies: slidingWindow({ name: 's', limit: 2, window: '1 d' }),
        store: makeStore(),
        prefix,
        denyCache: false,
      })
      const reasons = []
      for (let i = 0; i < 3; i++) reasons.push((await limiter.limit('k')).reason)
      expect(reasons).toEqual(['allowed', 'allowed', 'limited'])
      const [key] = await admin.keys(`${prefix}:*`)
      const value = (await admin.get(key!)) ?? ''
      const window = Number(/^s(\d+):2:0$/.exec(value)?.[1])
      // The key lives until the end of the window after this one, when its count stops weighing.
      const expiresAt = Number(await admin.call('PEXPIRETIME', key!))
      expect(Math.abs(expiresAt - (window + 2) * 86_400_000)).toBeLessThanOrEqual(1)
    })

    it("gives a key on the server's clock its transition's expiry, with no slack", async () => {
      // A fixed window's key expires with its window. Redis sets that instant by its own clock when
      // the script writes the key, a few µs after the script's TIME: as a rule in the same ms. A
      // day's window: an hour's end between a decision and PEXPIRETIME would take its key.
      const fixed = fixedWindow({ name: 'f', limit: 5, window: '1 d' })
      const prefix = `no-slack-${library}-${Date.now()}`
      const limiter = createRateLimiter({ policies: fixed, store: makeStore(), prefix, denyCache: false })
      const lateMs: number[] = []
      for (let i = 0; i < 8; i++) {
        const d = await limiter.limit(`k${i}`)
        const expiresAt = Number(await admin.call('PEXPIRETIME', counterKey(prefix, `k${i}`, fixed)))
        lateMs.push(expiresAt - d.resetAtMs)
      }
      expect(lateMs.filter((ms) => ms === 0).length).toBeGreaterThan(lateMs.length / 2)
    })

    it('writes no TTL on a denial to a key that has one', async () => {
      const clock = manualClock(1_999_987_200_000)
      const fixed = fixedWindow({ name: 'f', limit: 2, window: '1 h' })
      const prefix = `denial-ttl-${library}-${Date.now()}`
      const limiter = createRateLimiter({
        policies: fixed,
        store: redisStore({ client: client(), clock }),
        prefix,
        denyCache: false,
      })
      const key = counterKey(prefix, 'k', fixed)
      // Over its limit in this window, the key expiring long before the window ends.
      await admin.hset(key, String(1_999_987_200_000 / 3_600_000), '5')
      await admin.pexpire(key, 60_000)
      const expiresAt = Number(await admin.call('PEXPIRETIME', key))
      expect((await limiter.limit('k')).reason).toBe('limited')
      expect(Number(await admin.call('PEXPIRETIME', key))).toBe(expiresAt)
    })

    it("bounds a denial by the key's own expiry for a token bucket value without its expiry field (an earlier version's)", async () => {
      const bucket = tokenBucket({ name: 'b', capacity: 4, refillRate: 1, interval: '1 s' })
      const prefix = `old-bucket-${library}-${Date.now()}`
      const limiter = createRateLimiter({ policies: bucket, store: makeStore(), prefix, denyCache: false })
      const key = counterKey(prefix, 'k', bucket)
      // An empty bucket as an earlier version wrote it, its key expiring in 3 s: a refill of 4
      // tokens takes 4 s, but the key is gone (a full bucket) 3 s from now.
      const [seconds, micros] = await admin.time()
      const serverNow = Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000)
      await admin.set(key, `b0:${serverNow}`, 'PX', 3_000)
      const expiresAt = Number(await admin.call('PEXPIRETIME', key))
      const d = await limiter.peek('k', { cost: 4 })
      expect(d.allowed).toBe(false)
      expect(d.resetAtMs).toBe(expiresAt + 1)
      expect(d.retryAfterMs).toBe(expiresAt + 1 - d.nowMs)
    })

    it("reads a key of another type (an older version's state) as no state and overwrites it, with a TTL", async () => {
      const fixed = fixedWindow({ name: 'f', limit: 2, window: '1 h' })
      const sliding = slidingWindow({ name: 's', limit: 2, window: '1 h' })
      const prefix = `other-type-${library}-${Date.now()}`
      const limiter = createRateLimiter({
        policies: [fixed, sliding],
        // The clock stands still: on Redis's clock an hour's end before the checks would take the
        // fixed window's key.
        store: makeStore(still),
        prefix,
        denyCache: false,
      })
      const fixedKey = counterKey(prefix, 'k', fixed)
      const slidingKey = counterKey(prefix, 'k', sliding)
      await admin.set(fixedKey, 'old') // a string where a hash belongs
      await admin.hset(slidingKey, 'old', '1') // a hash where a string belongs
      const d = await limiter.limit('k')
      expect(d.reason).toBe('allowed')
      expect(d.remaining).toBe(1)
      expect(await admin.type(fixedKey)).toBe('hash')
      expect(await admin.pttl(fixedKey)).toBeGreaterThan(0)
      expect(await admin.type(slidingKey)).toBe('string')
      expect(await admin.pttl(slidingKey)).toBeGreaterThan(0)
    })

    it('leaves a denial unbounded for such a value whose key has no TTL (a PERSIST)', async () => {
      const bucket = tokenBucket({ name: 'b', capacity: 4, refillRate: 1, interval: '1 s' })
      const prefix = `old-bucket-persisted-${library}-${Date.now()}`
      const limiter = createRateLimiter({ policies: bucket, store: makeStore(), prefix, denyCache: false })
      const key = counterKey(prefix, 'k', bucket)
      const [seconds, micros] = await admin.time()
      const serverNow = Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000)
      await admin.set(key, `b0:${serverNow}`)
      const d = await limiter.peek('k', { cost: 4 })
      await admin.del(key)
      expect(d.allowed).toBe(false)
      // Refilled 4 tokens after the charge, less what elapsed since.
      expect(d.resetAtMs).toBe(serverNow + 4_000)
      expect(d.retryAfterMs).toBe(serverNow + 4_000 - d.nowMs)
    })

    it("leaves a denial under an injected clock unbounded by such a key's expiry (the server's clock)", async () => {
      const bucket = tokenBucket({ name: 'b', capacity: 4, refillRate: 1, interval: '1 s' })
      const prefix = `old-bucket-injected-${library}-${Date.now()}`
      const clock = manualClock(1_999_987_200_000)
      const limiter = createRateLimiter({
        policies: bucket,
        store: redisStore({ client: library === 'ioredis' ? ioredis : nodeRedis, clock }),
        prefix,
        denyCache: false,
      })
      const key = counterKey(prefix, 'k', bucket)
      // The same empty bucket, charged at the injected clock's now, its key expiring in 3 s.
      await admin.set(key, `b0:${clock()}`, 'PX', 3_000)
      const d = await limiter.peek('k', { cost: 4 })
      expect(d.allowed).toBe(false)
      expect(d.resetAtMs).toBe(clock() + 4_000)
      expect(d.retryAfterMs).toBe(4_000)
    })

    it('with the deny cache, a flood from a limited identifier costs no Redis command until its retry time', async () => {
      const clock = manualClock(1_999_987_200_000)
      const limiter = createRateLimiter({
        policies: slidingWindow({ limit: 3, window: '10 s' }),
        store: redisStore({ client: library === 'ioredis' ? ioredis : nodeRedis, clock }),
        prefix: `deny-${library}-${Date.now()}`,
        denyCache: { clock },
      })
      for (let i = 0; i < 3; i++) expect((await limiter.limit('flooder')).reason).toBe('allowed')
      clock.advance(4_000)
      const first = await limiter.limit('flooder')
      expect(first.reason).toBe('limited')
      const before = await commandCounts(admin)
      for (let i = 0; i < 200; i++) expect((await limiter.limit('flooder')).allowed).toBe(false)
      clock.advance(first.retryAfterMs - 2)
      expect((await limiter.limit('flooder')).retryAfterMs).toBe(2)
      expect(delta(before, await commandCounts(admin))).toEqual({})
      // From 1 ms before the retry time the store is asked again (a timer may fire that early on
      // the cache's clock): it denies for 1 ms more, then admits.
      clock.advance(1)
      expect((await limiter.limit('flooder')).retryAfterMs).toBe(1)
      expect(delta(before, await commandCounts(admin))).toEqual({ evalsha: 1 })
      clock.advance(1)
      expect((await limiter.limit('flooder')).reason).toBe('allowed')
      expect(delta(before, await commandCounts(admin))).toEqual({ evalsha: 2 })
    })
  })

  it("decides at the server's TIME in whole ms, read inside the script", async () => {
    // The script's TIME falls between two read in the same transaction, a few µs apart.
    const ms = (time: unknown) => {
      const [seconds, micros] = time as [string, string]
      return Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000)
    }
    for (let i = 0; i < 20; i++) {
      const key = `server-ms-${Date.now()}-${i}`
      const replies = await admin
        .multi()
        .time()
        .eval(DECIDE_SCRIPT, 1, key, '', '', '0', '1:1 10 60000 0;')
        .time()
        .exec()
      const [before, reply, after] = (replies ?? []).map(([error, result]) => {
        expect(error).toBeNull()
        return result
      })
      const nowMs = (reply as number[])[0]!
      expect(nowMs).toBeGreaterThanOrEqual(ms(before))
      expect(nowMs).toBeLessThanOrEqual(ms(after))
    }
  })

  it('refuses arguments the store never sends, counting nothing', async () => {
    const key = `malformed-${Date.now()}`
    const run = (...requests: string[]) =>
      admin.eval(DECIDE_SCRIPT, requests.length, ...requests.map(() => key), '', '', '0', ...requests)
    await expect(run('x')).rejects.toThrow('ERR Floodgate: malformed request x')
    await expect(run('1:1 10 60000 0;x')).rejects.toThrow(
      'ERR Floodgate: malformed policy list 1 10 60000 0;x',
    )
    await expect(run('1:1 10 60000 0 ;')).rejects.toThrow('ERR Floodgate: malformed policy list')
    await expect(run('1')).rejects.toThrow(
      'ERR Floodgate: the first request of a batch carries no policy list',
    )
    expect(await admin.exists(key)).toBe(0)
  })

  it('through @upstash/redis, sends at most one HTTP request per decision', async () => {
    for (const enableAutoPipelining of [false, true]) {
      const redis = new UpstashRedis({
        url: upstash.url,
        token: upstash.token,
        retry: { retries: 0 },
        enableTelemetry: false,
        enableAutoPipelining,
      })
      const limiter = createRateLimiter({
        policies: twoPolicies,
        store: upstashStore({ redis }),
        prefix: `http-${enableAutoPipelining}`,
        denyCache: false,
        // This test counts HTTP requests: on a loaded machine 20 concurrent decisions through the
        // local Upstash server could outlast the default 250 ms and read as store errors.
        timeout: '5 s',
      })
      await limiter.limit('warm-up')
      const requests = upstash.stats.requests
      const before = await commandCounts(admin)
      const sequential = []
      for (let i = 0; i < 10; i++) sequential.push((await limiter.limit('client')).reason)
      const concurrent = await Promise.all(Array.from({ length: 20 }, (_, i) => limiter.limit(`c-${i % 4}`)))
      expect(sequential).toContain('limited')
      expect(concurrent.every((d) => d.reason !== 'store-error')).toBe(true)
      expect(upstash.stats.requests - requests).toBeLessThanOrEqual(30)
      if (!enableAutoPipelining) expect(upstash.stats.requests - requests).toBe(30)
      expect(delta(before, await commandCounts(admin))).toEqual({ evalsha: 30 })
    }
  })
})
