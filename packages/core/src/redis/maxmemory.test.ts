import {
  describeRedisServer,
  expectNoUnhandledRejections,
  type RedisServer,
  startRedisServer,
} from '@floodgate/tools'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERROR_CODES, type FloodgateError } from '../errors.js'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { RedisClient } from './clients.js'
import { redisStore } from './redis-store.js'

// A full Redis under `maxmemory-policy noeviction` (docs/stores.md, "Memory policy"): it refuses
// the decision script's first write with OOM. An admission is then a store failure that follows
// `onStoreError` and charges nothing; a denial, which writes nothing, is still a denial; a reset
// still deletes; once memory is freed, decisions resume where they were.

/** A clock that stands still (an hour boundary), so the counts below never cross a window. */
const still = () => 500_000 * 3_600_000

describeRedisServer('redisStore on a Redis out of memory (noeviction)', () => {
  let server: RedisServer
  let admin: Redis
  expectNoUnhandledRejections()

  beforeAll(async () => {
    server = await startRedisServer({ args: ['--maxmemory-policy', 'noeviction'] })
    admin = new Redis(server.url)
  })
  afterAll(async () => {
    admin?.disconnect()
    await server?.stop()
  })

  /** Sets maxmemory below what Redis uses now: every command that may grow memory is refused. */
  async function fill(): Promise<void> {
    const used = Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))![1])
    await admin.config('SET', 'maxmemory', String(used - 100_000))
    await expect(admin.set('probe', 'x')).rejects.toThrow(/^OOM/)
  }

  const libraries: [string, () => Promise<{ client: RedisClient; close(): Promise<unknown> }>][] = [
    [
      'ioredis',
      async () => {
        const client = new Redis(server.url, {
          enableOfflineQueue: false,
          autoResendUnfulfilledCommands: false,
        })
        await new Promise((resolve) => client.once('ready', resolve))
        return { client, close: async () => client.disconnect() }
      },
    ],
    [
      'node-redis',
      async () => {
        const client = createClient({ url: server.url, disableOfflineQueue: true })
        await client.connect()
        return { client, close: () => client.close() }
      },
    ],
  ]

  describe.each(libraries)('through %s', (library, connect) => {
    it.each(['allow', 'deny'] as const)(
      "answers admissions as store failures with onStoreError '%s', charges nothing, still denies and resets",
      async (onStoreError) => {
        const { client, close } = await connect()
        const failures: FloodgateError[] = []
        const prefix = `oom-${library}-${onStoreError}`
        const limiter = createRateLimiter({
          policies: [
            tokenBucket({ name: 'burst', capacity: 3, refillRate: 1, interval: '1 h' }),
            fixedWindow({ name: 'hour', limit: 2, window: '1 h' }),
          ],
          store: redisStore({ client, clock: still }),
          prefix,
          onStoreError,
          denyCache: false,
          logger: false,
          onStoreFailure: (error) => void failures.push(error),
        })
        try {
          const held = []
          for (let i = 0; i < 3; i++) held.push((await limiter.limit('held')).reason)
          expect(held).toEqual(['allowed', 'allowed', 'limited'])
          await fill()

          const failed = [await limiter.limit('fresh')]
          failed.push(...(await Promise.all([limiter.limit('a'), limiter.limit('b'), limiter.limit('held')])))
          for (const d of failed) {
            expect(d).toMatchObject({
              reason: 'store-error',
              allowed: onStoreError === 'allow',
              policies: [],
              error: { code: ERROR_CODES.STORE_ERROR, cause: { message: expect.stringMatching(/^OOM/) } },
            })
          }
          expect(failures).toHaveLength(failed.length)
          // Sent alone, a denial writes nothing: still a denial. So is a peek.
          expect((await limiter.limit('held')).reason).toBe('limited')
          expect((await limiter.peek('fresh')).reason).toBe('allowed')
          // A reset deletes, which Redis allows when full.
          await limiter.reset('held')
          expect(await admin.keys(`${prefix}:*`)).toEqual([])

          await admin.config('SET', 'maxmemory', '0')
          // Nothing was charged for the refused admissions.
          expect((await limiter.limit('fresh')).remaining).toBe(1)
          expect((await limiter.limit('held')).remaining).toBe(1)
        } finally {
          await admin.config('SET', 'maxmemory', '0')
          await limiter.close()
          await close()
        }
      },
    )
  })
})
