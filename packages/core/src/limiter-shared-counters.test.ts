import * as v8 from 'node:v8'
import * as vm from 'node:vm'
import { Redis as UpstashRedis } from '@upstash/redis'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { describe, expect, it } from 'vitest'
import { createRateLimiter, MAX_SHARED_WARNED, sharedWarnedSize } from './limiter.js'
import { fixedWindow } from './policies/fixed-window.js'
import { slidingWindow } from './policies/sliding-window.js'
import { registry } from './process-registry.js'
import { redisStore } from './redis/redis-store.js'
import { memoryStore } from './stores/memory-store.js'
import { manualClock } from './testing/manual-clock.js'
import { upstashStore } from './upstash/upstash-store.js'

// Counters belong to (prefix, policy name, identifier): two open limiters on one store with a prefix
// and a policy name in common share counters, which is rarely meant and is said once.

function logger() {
  const lines: string[] = []
  return { lines, logger: { warn: (line: string) => void lines.push(line) } }
}

const shared = (lines: string[]) => lines.filter((l) => l.includes('WARN_FLOODGATE_SHARED_COUNTERS'))

describe('limiters sharing counters', () => {
  it('warns when a second open limiter on one store counts the same prefix and policy name', async () => {
    // A clock that stands still: a minute's end between the first's requests and the second's
    // would hand the second a fresh window.
    const store = memoryStore({ clock: manualClock(500_000 * 3_600_000) })
    const first = createRateLimiter({ policies: fixedWindow({ limit: 100, window: '1 m' }), store })
    const log = logger()
    const second = createRateLimiter({
      policies: fixedWindow({ limit: 5, window: '1 m' }),
      store,
      logger: log.logger,
    })
    expect(shared(log.lines)).toHaveLength(1)
    expect(shared(log.lines)[0]).toContain('policy "fixed-window" under prefix "floodgate"')
    // And they do share: the second limiter's budget is spent by the first.
    for (let i = 0; i < 5; i++) await first.limit('a')
    expect((await second.limit('a')).allowed).toBe(false)
    await first.close()
    await second.close()
  })

  it('warns for two Redis or Upstash stores made from one client, which count in the same keys', async () => {
    // No command is sent: the claims are made when the limiters are created.
    const ioredis = () =>
      new Redis({ lazyConnect: true, enableOfflineQueue: false, autoResendUnfulfilledCommands: false })
    const nodeRedis = () => createClient({ disableOfflineQueue: true })
    const upstash = () => new UpstashRedis({ url: 'http://127.0.0.1:1', token: 't', retry: { retries: 0 } })
    const storesOf = [
      (client: object) => redisStore({ client: client as Redis }),
      (client: object) => redisStore({ client: client as Redis }),
      (client: object) => upstashStore({ redis: client as UpstashRedis }),
    ]
    for (const [i, make] of [ioredis, nodeRedis, upstash].entries()) {
      const client = make()
      const log = logger()
      const policies = fixedWindow({ limit: 5, window: '1 m' })
      const limiters = [client, client, make()].map((c) =>
        createRateLimiter({ policies, store: storesOf[i]!(c), logger: log.logger }),
      )
      // The first two share a client; the third has its own.
      expect(shared(log.lines)).toHaveLength(1)
      expect(shared(log.lines)[0]).toMatch(
        /on this (redis|upstash) store, or another made from its client, already counts/,
      )
      // Said once per counter: the limiters of a module evaluated again (a development server's
      // reload), made on a client it kept, are not told again.
      limiters.push(createRateLimiter({ policies, store: storesOf[i]!(client), logger: log.logger }))
      expect(shared(log.lines)).toHaveLength(1)
      for (const limiter of limiters) await limiter.close()
      if (client instanceof Redis) client.disconnect()
    }
  })

  it('says nothing for other names, other prefixes, other stores, or once the other limiter closed', async () => {
    const store = memoryStore()
    const log = logger()
    const policies = fixedWindow({ limit: 5, window: '1 m' })
    const first = createRateLimiter({ policies, store, logger: log.logger })
    const others = [
      createRateLimiter({
        policies: fixedWindow({ name: 'login', limit: 5, window: '1 m' }),
        store,
        logger: log.logger,
      }),
      createRateLimiter({ policies, store, prefix: 'other', logger: log.logger }),
      createRateLimiter({ policies, store: memoryStore(), logger: log.logger }),
      createRateLimiter({ policies, logger: log.logger }),
      createRateLimiter({ policies: slidingWindow({ limit: 5, window: '1 m' }), store, logger: log.logger }),
      // The same name and kind over another period: another counter, kept apart (keys.ts, counterName).
      createRateLimiter({ policies: fixedWindow({ limit: 5, window: '1 h' }), store, logger: log.logger }),
    ]
    await first.close()
    const after = createRateLimiter({ policies, store, logger: log.logger })
    expect(log.lines).toEqual([])
    for (const limiter of [...others, after]) await limiter.close()
  })

  // A limiter per tenant, with the tenant as its prefix, on a store (or Redis client) kept for the
  // app's life: two open at once for one tenant (a lazy cache's race, one made per request) are
  // told of sharing, and what was said stayed remembered for every tenant, closed or not.
  it('remembers at most MAX_SHARED_WARNED counters as said, for 20,000 tenants whose limiters shared one and closed', async () => {
    const store = memoryStore()
    const policies = fixedWindow({ limit: 5, window: '1 m' })
    const log = logger()
    let most = 0
    for (let i = 0; i < 20_000; i++) {
      const pair = [0, 1].map(() =>
        createRateLimiter({ policies, store, prefix: `tenant-${i}`, logger: i === 0 ? log.logger : false }),
      )
      for (const limiter of pair) await limiter.close()
      most = Math.max(most, sharedWarnedSize(store))
    }
    expect(most).toBe(MAX_SHARED_WARNED)
    expect(shared(log.lines)).toHaveLength(1)
    expect(registry.countersInUse.get(store)?.size ?? 0).toBe(0)
  })

  it('can be silenced by its code', () => {
    const store = memoryStore()
    const log = logger()
    const policies = fixedWindow({ limit: 5, window: '1 m' })
    createRateLimiter({ policies, store })
    createRateLimiter({
      policies,
      store,
      logger: log.logger,
      silenceWarnings: ['WARN_FLOODGATE_SHARED_COUNTERS'],
    })
    expect(log.lines).toEqual([])
  })
})

describe('limiters dropped without close()', () => {
  /** A full collection, and the turns that FinalizationRegistry callbacks run in. */
  async function collect(): Promise<void> {
    v8.setFlagsFromString('--expose-gc')
    const gc = vm.runInNewContext('gc') as () => void
    for (let i = 0; i < 5; i++) {
      gc()
      await new Promise((resolve) => setImmediate(resolve))
    }
  }

  it('let go of their claims once collected: nothing grows, and a later limiter is not told of sharing', async () => {
    const store = memoryStore()
    const claims = () => registry.countersInUse.get(store)?.size ?? 0
    // A development server's reloads, or a limiter per tenant dropped without close().
    const make = (count: number) => {
      for (let i = 0; i < count; i++) {
        createRateLimiter({
          policies: fixedWindow({ limit: 5, window: '1 m' }),
          store,
          prefix: `tenant-${i}`,
        })
      }
    }
    make(100)
    expect(claims()).toBe(100)
    await collect()
    expect(claims()).toBe(0)
    const log = logger()
    make(1)
    const again = createRateLimiter({
      policies: fixedWindow({ limit: 5, window: '1 m' }),
      store,
      prefix: 'tenant-7',
      logger: log.logger,
    })
    await collect()
    expect(shared(log.lines)).toEqual([])
    expect(claims()).toBe(1) // the open one's
    await again.close()
    expect(claims()).toBe(0)
  })

  it('let go once: a limiter closed and then collected leaves the claims of those still open', async () => {
    const store = memoryStore()
    const claims = () => registry.countersInUse.get(store)?.size ?? 0
    const policies = fixedWindow({ limit: 5, window: '1 m' })
    // Its claims are let go at close(); its collection must not let go of them a second time.
    const closeAndDrop = async () => {
      await createRateLimiter({ policies, store }).close()
    }
    await closeAndDrop()
    const open = createRateLimiter({ policies, store })
    await collect()
    expect(claims()).toBe(1)
    // The open one still counts: a second is told of sharing its counters.
    const log = logger()
    const second = createRateLimiter({ policies, store, logger: log.logger })
    expect(shared(log.lines)).toHaveLength(1)
    await open.close()
    await second.close()
    expect(claims()).toBe(0)
  })
})
