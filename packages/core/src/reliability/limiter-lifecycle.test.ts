import * as v8 from 'node:v8'
import * as vm from 'node:vm'
import { describeRedisServer, type RedisServer, startRedisServer } from '@floodgate/tools'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../errors.js'
import { createRateLimiter } from '../limiter.js'
import { fakeBinding as binding } from '../middleware/fake-request.js'
import { createRateLimitHandler } from '../middleware/request-handler.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import { registry } from '../process-registry.js'
import { redisStore } from '../redis/redis-store.js'
import { storesOfClientSize } from '../redis/script-store.js'
import { memoryStore } from '../stores/memory-store.js'

// Issue #5, exhaustion: limiters and middleware created by the thousand (an app that builds one per
// request, or a test suite) must leave nothing running behind them.

const policies = [
  fixedWindow({ name: 'fw', limit: 5, window: '1 m' }),
  slidingWindow({ name: 'sw', limit: 5, window: '1 h' }),
  tokenBucket({ name: 'tb', capacity: 5, refillRate: 1, interval: '1 d' }),
]

/** Timers, sockets and other handles that keep the event loop alive, by type. */
function activeResources(): string[] {
  return process.getActiveResourcesInfo().sort()
}

describe('limiters created and closed by the thousand', () => {
  it('1,000 limiters used and closed leave no active handle behind, and close() stays idempotent', async () => {
    const before = activeResources()
    const limiters = Array.from({ length: 1_000 }, () => createRateLimiter({ policies, logger: false }))
    for (const [i, limiter] of limiters.entries()) {
      expect((await limiter.limit(`user-${i}`)).allowed).toBe(true)
    }
    // Nothing was scheduled while they were open, either.
    expect(activeResources()).toEqual(before)
    await Promise.all(limiters.map((limiter) => limiter.close()))
    await Promise.all(limiters.map((limiter) => limiter.close()))
    expect(activeResources()).toEqual(before)
  })

  // A limiter of one policy decides on the memory store's single-policy path, which the limiters of
  // three policies above never take: it must schedule nothing either (no timer per key).
  it.each(policies)(
    'limiters of the one policy $name, used on 1,000 identifiers, leave no active handle behind',
    async (policy) => {
      const before = activeResources()
      const limiter = createRateLimiter({ policies: [policy], logger: false })
      for (let i = 0; i < 1_000; i++) expect((await limiter.limit(`user-${i}`)).allowed).toBe(true)
      expect(activeResources()).toEqual(before)
      await limiter.close()
      expect(activeResources()).toEqual(before)
    },
  )

  it('a closed limiter used again rejects with ERR_FLOODGATE_CLOSED, for every call', async () => {
    const limiter = createRateLimiter({ policies, logger: false })
    await limiter.limit('a')
    await limiter.close()
    await limiter.close()
    for (const call of [
      () => limiter.limit('a'),
      () => limiter.limit('a', { cost: 2 }),
      () => limiter.peek('a'),
      () => limiter.reset('a'),
    ]) {
      await expect(call()).rejects.toMatchObject({
        code: ERROR_CODES.CLOSED,
        message: expect.stringContaining('create a new one'),
      })
    }
  })

  it('1,000 middleware handlers created and used leave no active handle behind', async () => {
    const before = activeResources()
    const handlers = Array.from({ length: 1_000 }, () =>
      createRateLimitHandler({ policies, logger: false }, binding),
    )
    for (const [i, handler] of handlers.entries()) {
      const outcome = await handler.handle({ ip: `192.0.2.${i % 250}`, headers: {} })
      expect(outcome.action).toBe('pass')
    }
    expect(activeResources()).toEqual(before)
    await Promise.all(handlers.map((handler) => handler.limiter.close()))
    expect(activeResources()).toEqual(before)
    const reused = handlers[0]!.handle({ ip: '192.0.2.1', headers: {} })
    await expect(reused).rejects.toMatchObject({ code: ERROR_CODES.CLOSED })
  })
})

/** A full collection. */
function gc(): void {
  v8.setFlagsFromString('--expose-gc')
  ;(vm.runInNewContext('gc') as () => void)()
}

/** Full collections, and the turns that FinalizationRegistry callbacks run in. */
async function collect(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
}

// What the process keeps per store or client given to limiters (registry.countersInUse, the script
// stores' list of their client's stores) must go with the limiters: an app that makes one per
// tenant, per test or per reload on a client it keeps for good made it grow for good.
describe('limiters made by the ten thousand on one store', () => {
  it('10,000 limiters used and closed on one memory store leave no claim on it', async () => {
    const store = memoryStore()
    const policy = fixedWindow({ name: 'fw', limit: 5, window: '1 m' })
    for (let i = 0; i < 10_000; i++) {
      const limiter = createRateLimiter({
        policies: policy,
        store,
        prefix: `tenant-${i % 100}`,
        logger: false,
      })
      expect((await limiter.limit(`user-${i}`)).allowed).toBe(true)
      await limiter.close()
    }
    expect(registry.countersInUse.get(store)?.size ?? 0).toBe(0)
  })
})

describeRedisServer('limiters made by the ten thousand on one Redis client', () => {
  let server: RedisServer
  const clients: Redis[] = []
  const policies = fixedWindow({ name: 'fw', limit: 5, window: '1 m' })
  /** A client of the test's own, connected as docs/stores.md says. */
  async function connected(): Promise<Redis> {
    const client = new Redis(server.url, { enableOfflineQueue: false, autoResendUnfulfilledCommands: false })
    clients.push(client)
    await new Promise((resolve) => client.once('ready', resolve))
    return client
  }

  beforeAll(async () => {
    server = await startRedisServer()
  })
  afterAll(async () => {
    for (const client of clients) client.disconnect()
    await server?.stop()
  })

  it('10,000 stores and limiters, each deciding and closed, leave nothing registered for the client', async () => {
    const client = await connected()
    for (let i = 0; i < 10_000; i++) {
      const store = redisStore({ client, logger: false })
      const limiter = createRateLimiter({ policies, store, prefix: 'closed', logger: false })
      expect((await limiter.limit(`user-${i}`)).allowed).toBe(true)
      // The store was given to the limiter: closing the limiter leaves it to its owner.
      await limiter.close()
      await store.close()
    }
    expect(registry.countersInUse.get(client)?.size ?? 0).toBe(0)
    expect(storesOfClientSize(client)).toBe(0)
  })

  it('20,000 stores and limiters dropped without close() are let go of as they are collected', async () => {
    const client = await connected()
    const alive = 1_000
    let most = 0
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < alive; i++) {
        createRateLimiter({
          policies,
          store: redisStore({ client, logger: false }),
          prefix: 'dropped',
          logger: false,
        })
        most = Math.max(most, storesOfClientSize(client))
      }
      // After the turn that made them: a WeakRef holds its target until then.
      await new Promise((resolve) => setImmediate(resolve))
      gc()
    }
    // Collected stores are swept each time the list reaches a power of two: it never holds more
    // than the one above twice the stores alive at once.
    expect(most).toBeGreaterThanOrEqual(alive)
    expect(most).toBeLessThanOrEqual(2_048)
    await collect()
    expect(registry.countersInUse.get(client)?.size ?? 0).toBe(0)
  })
})
