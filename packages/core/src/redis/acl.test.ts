import { describeRedisServer, type RedisServer, startRedisServer } from '@floodgate/tools'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ERROR_CODES, type FloodgateError } from '../errors.js'
import { createRateLimiter, type RateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy } from '../policies/types.js'
import type { RateLimitStore } from '../store.js'
import { counterKey } from './keys.js'
import { redisStore } from './redis-store.js'

// A Redis user limited by an ACL to the commands docs/stores.md lists ("Commands it needs"), and
// the same user missing some of them: a command refused is a store failure, never a decision.
// The decision script reads state with pcall (a key of another type reads as no state), so a
// refused read used to read as an empty counter: every request admitted, reported 'allowed'.

const PREFIX = 'acl'
/** The list in docs/stores.md, plus INFO for ioredis's ready check. */
const DOCUMENTED = [
  'evalsha',
  'eval',
  'time',
  'get',
  'set',
  'hget',
  'hincrby',
  'hdel',
  'hkeys',
  'hlen',
  'pexpire',
  'pexpiretime',
  'pttl',
  'del',
  'info',
]

// Windows of a day: the stores count on Redis's own clock (the default the documented commands
// are listed for, not an injected clock), where a minute's end between the 3rd and 4th request
// would admit the 4th. Only midnight UTC can fall there now.
const POLICY_SETS: [string, Policy[]][] = [
  ['fixed window (HGET)', [fixedWindow({ limit: 3, window: '1 d' })]],
  ['sliding window (GET)', [slidingWindow({ limit: 3, window: '1 d' })]],
  [
    'token bucket and fixed window',
    [
      tokenBucket({ name: 'burst', capacity: 3, refillRate: 1, interval: '1 m' }),
      fixedWindow({ limit: 5, window: '1 h' }),
    ],
  ],
]

type Library = 'ioredis' | 'node-redis'

describeRedisServer('a Redis user with only the commands the docs list', () => {
  let server: RedisServer
  let admin: Redis
  const open: { close(): Promise<void> }[] = []

  beforeAll(async () => {
    server = await startRedisServer()
    admin = new Redis(server.url)
  })
  afterAll(async () => {
    admin?.disconnect()
    await server?.stop()
  })
  afterEach(async () => {
    for (const item of open.splice(0)) await item.close()
    await admin.flushall()
  })

  async function user(name: string, commands: readonly string[]): Promise<string> {
    await admin.call(
      'ACL',
      'SETUSER',
      name,
      'reset',
      'on',
      '>pw',
      `~${PREFIX}:*`,
      ...commands.map((c) => `+${c}`),
    )
    return `redis://${name}:pw@${new URL(server.url).host}`
  }

  async function storeAs(library: Library, url: string): Promise<RateLimitStore> {
    if (library === 'ioredis') {
      const client = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
      client.on('error', () => undefined)
      await new Promise((resolve) => client.once('ready', resolve))
      open.push({ close: async () => client.disconnect() })
      return redisStore({ client })
    }
    const client = createClient({ url, disableOfflineQueue: true })
    client.on('error', () => undefined)
    await client.connect()
    open.push({ close: async () => void client.destroy() })
    return redisStore({ client })
  }

  function limiterOf(store: RateLimitStore, policies: Policy[], failures: FloodgateError[]): RateLimiter {
    const limiter = createRateLimiter({
      policies,
      store,
      prefix: PREFIX,
      onStoreError: 'deny',
      onStoreFailure: (error) => void failures.push(error),
      logger: false,
    })
    open.unshift({ close: () => limiter.close() })
    return limiter
  }

  describe.each<Library>(['ioredis', 'node-redis'])('%s', (library) => {
    it.each(POLICY_SETS)(
      '%s: limits, peeks and resets with the documented commands, the script loaded by EVAL',
      async (_name, policies) => {
        const failures: FloodgateError[] = []
        const limiter = limiterOf(
          await storeAs(library, await user(`ok-${library}`, DOCUMENTED)),
          policies,
          failures,
        )
        await admin.script('FLUSH')
        const id = `${library}:${policies.length}:${policies[0]!.kind}`
        const reasons: string[] = []
        for (let i = 0; i < 4; i++) reasons.push((await limiter.limit(id)).reason)
        expect(reasons).toEqual(['allowed', 'allowed', 'allowed', 'limited'])
        expect((await limiter.peek(id)).reason).toBe('limited')
        await limiter.reset(id)
        expect((await limiter.limit(id)).reason).toBe('allowed')
        expect(failures).toEqual([])
      },
    )

    it.each(POLICY_SETS)(
      '%s: without GET and HGET every request is a store failure, not admitted as unused',
      async (_name, policies) => {
        const failures: FloodgateError[] = []
        const commands = DOCUMENTED.filter((c) => c !== 'get' && c !== 'hget')
        const limiter = limiterOf(
          await storeAs(library, await user(`noread-${library}`, commands)),
          policies,
          failures,
        )
        const decisions = []
        for (let i = 0; i < 5; i++) decisions.push(await limiter.limit(`${library}:noread`))
        expect(decisions.map((d) => [d.allowed, d.reason, d.error?.code])).toEqual(
          Array.from({ length: 5 }, () => [false, 'store-error', ERROR_CODES.STORE_ERROR]),
        )
        expect(decisions[0]!.error!.message).toMatch(/NOPERM|can't run this command/)
        expect(failures).toHaveLength(5)
        // Nothing was written: the refusal came before any write.
        expect(await admin.keys(`${PREFIX}:*`)).toEqual([])
      },
    )
  })

  // Redis before 7 has no PEXPIRETIME: the script then takes a key's expiry from its PTTL. A user
  // refused PEXPIRETIME runs that path on this Redis.
  it("without PEXPIRETIME (Redis 6), bounds a denial by an earlier version's bucket key's PTTL, and not for a key with none", async () => {
    const bucket = tokenBucket({ name: 'b', capacity: 4, refillRate: 1, interval: '1 s' })
    const store = await storeAs(
      'ioredis',
      await user(
        'no-pexpiretime',
        DOCUMENTED.filter((c) => c !== 'pexpiretime'),
      ),
    )
    // Empty buckets as an earlier version wrote them (no expiry field): a refill of 4 tokens takes
    // 4 s, but a key expiring in 3 s is gone (a full bucket) then. PTTL gives that instant, as a
    // rule to the ms (Redis reads its clock again for it).
    const serverNowMs = async () => {
      const [seconds, micros] = await admin.time()
      return Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000)
    }
    const bounded: number[] = []
    for (let i = 0; i < 8; i++) {
      const id = `pttl-${i}`
      await admin.set(counterKey(PREFIX, id, bucket), `b0:${await serverNowMs()}`, 'PX', 3_000)
      const expiresAt = Number(await admin.call('PEXPIRETIME', counterKey(PREFIX, id, bucket)))
      // Each after a decision on another key, in the same script call (one tick's decisions go
      // together): the script reads the expiry of this request's key.
      const [, d] = await Promise.all([
        store.consume({ prefix: PREFIX, id: `other-${i}`, policies: [bucket], cost: 1, peek: true }),
        store.consume({ prefix: PREFIX, id, policies: [bucket], cost: 4, peek: true }),
      ])
      expect(d.outcomes[0]!.allowed).toBe(false)
      expect(d.outcomes[0]!.retryAfterMs).toBe(d.outcomes[0]!.resetAtMs - d.nowMs)
      bounded.push(d.outcomes[0]!.resetAtMs - (expiresAt + 1))
    }
    expect(bounded.filter((ms) => ms === 0).length).toBeGreaterThan(bounded.length / 2)
    // Without a TTL (a PERSIST) the key never expires: the refill alone times the denial (charged a
    // minute ahead of this clock, the bucket refills nothing until then).
    await admin.set(counterKey(PREFIX, 'persisted', bucket), `b0:${(await serverNowMs()) + 60_000}`)
    const d = await store.consume({
      prefix: PREFIX,
      id: 'persisted',
      policies: [bucket],
      cost: 4,
      peek: true,
    })
    expect(d.outcomes[0]).toEqual({
      allowed: false,
      remaining: 0,
      resetAtMs: d.nowMs + 4_000,
      retryAfterMs: 4_000,
    })
  })

  it.each<Library>(['ioredis', 'node-redis'])(
    '%s: a reset the user may not run rejects with a store error and reports it',
    async (library) => {
      const failures: FloodgateError[] = []
      const commands = DOCUMENTED.filter((c) => c !== 'del')
      const store = await storeAs(library, await user(`nodel-${library}`, commands))
      const limiter = limiterOf(store, [fixedWindow({ limit: 3, window: '1 m' })], failures)
      const error = await limiter.reset('someone').then(
        () => undefined,
        (e: unknown) => e as FloodgateError,
      )
      expect(error?.code).toBe(ERROR_CODES.STORE_ERROR)
      expect(error?.message).toMatch(/NOPERM|can't run this command/)
      expect(failures).toEqual([error])
    },
  )
})
