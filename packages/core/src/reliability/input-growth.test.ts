import { describeRedisServer, type RedisServer, startRedisServer } from '@floodgate/tools'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_DENY_CACHE_ENTRIES } from '../deny-cache.js'
import { CLIENT_KEY_CACHE_SIZE } from '../ip/client-keys.js'
import { createRateLimiter } from '../limiter.js'
import { fakeBinding } from '../middleware/fake-request.js'
import { createRateLimitHandler } from '../middleware/request-handler.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { redisStore } from '../redis/redis-store.js'
import { MAX_RESET_KEYS } from '../redis/script-store.js'
import type { RateLimitStore } from '../store.js'

// Issue #5, exhaustion: what a client chooses (its identifier, its address) and what an app does
// for each request (a reset after a login) must not grow anything in the process without bound.
// Each collection is driven far past its bound through the public API, and its size read.
// (The memory store's own keys: key-flood.test.ts; the Redis key digests: redis/keys.test.ts; the
// 429 bodies: middleware/problem-body.test.ts; unknown tier names: warnings.test.ts.)

const FLOOD = 100_000
const policies = fixedWindow({ name: 'fw', limit: 1, window: '1 m' })

/** A remote store that denies every request for a minute, and resets nothing: only the cache grows. */
const denyingStore: RateLimitStore = {
  name: 'denying',
  local: false,
  consume: (request) =>
    Promise.resolve({
      nowMs: 1_800_000_000_000,
      outcomes: request.policies.map(() => ({
        allowed: false,
        remaining: 0,
        resetAtMs: 1_800_000_060_000,
        retryAfterMs: 60_000,
      })),
    }),
  reset: () => Promise.resolve(),
  close: () => {},
}

describe('request-chosen values by the hundred thousand', () => {
  it('the deny cache holds at most maxEntries identifiers, and as many reset records, for 100,000 denied and reset', async () => {
    const limiter = createRateLimiter({ policies, store: denyingStore, logger: false })
    const cache = limiter.config.denyCache!
    const forgotten = () => (Reflect.get(cache, 'forgottenAt') as Map<string, number>).size
    expect(cache.maxEntries).toBe(DEFAULT_DENY_CACHE_ENTRIES)
    let most = 0
    for (let i = 0; i < FLOOD; i++) {
      expect((await limiter.limit(`client-${i}`)).reason).toBe('limited')
      if (i % 1_000 === 999) most = Math.max(most, cache.size)
    }
    // Full, and no fuller: each new identifier took the oldest one's place.
    expect(most).toBe(DEFAULT_DENY_CACHE_ENTRIES)
    // The most recent are answered from it.
    expect(cache.get(undefined, `client-${FLOOD - 1}`, 1)).toBeDefined()
    most = 0
    for (let i = 0; i < FLOOD; i++) {
      await limiter.reset(`client-${i}`)
      if (i % 1_000 === 999) most = Math.max(most, forgotten())
    }
    expect(most).toBeLessThanOrEqual(DEFAULT_DENY_CACHE_ENTRIES)
    expect(cache.size).toBe(0)
    await limiter.close()
  })

  it("a middleware remembers at most CLIENT_KEY_CACHE_SIZE addresses' keys, for 100,000 distinct client addresses", async () => {
    const handler = createRateLimitHandler({ policies, logger: false }, fakeBinding)
    const keys = Reflect.get(handler, 'clientKeys') as { readonly size: number }
    let most = 0
    for (let i = 0; i < FLOOD; i++) {
      // IPv6 addresses each in a subnet of its own (a key of its own), and IPv4 ones, alternately.
      const ip =
        i % 2 === 0
          ? `2001:${((i >>> 16) + 1).toString(16)}:${(i & 0xffff).toString(16)}::1`
          : `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`
      expect((await handler.handle({ ip, headers: {} })).action).toBe('pass')
      most = Math.max(most, keys.size)
    }
    expect(most).toBe(CLIENT_KEY_CACHE_SIZE)
    await handler.limiter.close()
  })
})

describeRedisServer('request-chosen values on a Redis store', () => {
  let server: RedisServer
  let client: Redis

  beforeAll(async () => {
    server = await startRedisServer()
    client = new Redis(server.url, { enableOfflineQueue: false, autoResendUnfulfilledCommands: false })
    await new Promise((resolve) => client.once('ready', resolve))
  })
  afterAll(async () => {
    client?.disconnect()
    await server?.stop()
  })

  it('the store keeps at most MAX_RESET_KEYS keys of recent resets, for 3 × MAX_RESET_KEYS identifiers reset', async () => {
    const store = redisStore({ client })
    const limiter = createRateLimiter({ policies, store, prefix: 'reset-flood', logger: false })
    const resetKeys = () => (Reflect.get(store, 'resetKeys') as Map<string, number>).size
    const pendingResets = () => (Reflect.get(store, 'pendingResets') as Map<string, unknown>).size
    let most = 0
    for (let start = 0; start < 3 * MAX_RESET_KEYS; start += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, i) => limiter.reset(`login-${start + i}`)))
      most = Math.max(most, resetKeys())
    }
    expect(most).toBeGreaterThan(MAX_RESET_KEYS / 2) // they were kept: the bound is not vacuous
    expect(most).toBeLessThanOrEqual(MAX_RESET_KEYS)
    expect(pendingResets()).toBe(0)
    await limiter.close()
  })
})
