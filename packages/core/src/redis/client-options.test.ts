import { describeRedisServer, type RedisServer, startRedisServer } from '@floodgate/tools'
import { Redis, type RedisOptions } from 'ioredis'
import { createClient, createClientPool, RESP_TYPES } from 'redis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createRateLimiter, type RateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import { memoryStore } from '../stores/memory-store.js'
import { manualClock } from '../testing/index.js'
import type { RedisClient } from './clients.js'
import { redisStore } from './redis-store.js'

// Client options that change what a client sends or how it reads replies: the protocol (RESP2,
// RESP3 and its reply mappings), numbers as strings, node-redis type mappings that turn replies
// into strings or Buffers, a key prefix, auto-pipelining, a pool of connections. Through each, the
// store decides exactly as the memory store does, with one EVALSHA per call and one EVAL after a
// SCRIPT FLUSH. A private Redis, so INFO commandstats counts only this file's commands.

/** A client made with one option, and how to let it go. */
interface Made {
  client: RedisClient
  close(): Promise<unknown>
  /** The key prefix the client adds, if any. */
  keyPrefix?: string
}

const io = async (url: string, options: RedisOptions): Promise<Made> => {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    ...options,
  })
  await new Promise((resolve) => client.once('ready', resolve))
  return { client, close: async () => client.disconnect(), keyPrefix: options.keyPrefix }
}

const node = async <C extends { connect(): Promise<unknown>; close(): Promise<unknown> }>(
  client: C,
  keyPrefix?: string,
): Promise<Made> => {
  await client.connect()
  return { client: client as unknown as RedisClient, close: () => client.close(), keyPrefix }
}

const CLIENTS: [string, (url: string) => Promise<Made>][] = [
  ['ioredis, RESP2', (url) => io(url, { protocol: 2 })],
  ['ioredis, RESP3 with its resp3 reply mapping', (url) => io(url, { protocol: 3, replyMapping: 'resp3' })],
  ['ioredis, stringNumbers', (url) => io(url, { stringNumbers: true })],
  ['ioredis, keyPrefix', (url) => io(url, { keyPrefix: 'app1:' })],
  ['ioredis, enableAutoPipelining', (url) => io(url, { enableAutoPipelining: true })],
  ['node-redis, RESP2', (url) => node(createClient({ url, disableOfflineQueue: true, RESP: 2 }))],
  ['node-redis, RESP3', (url) => node(createClient({ url, disableOfflineQueue: true, RESP: 3 }))],
  [
    'node-redis, RESP3 with numbers mapped to strings (withTypeMapping)',
    async (url) => {
      const client = createClient({ url, disableOfflineQueue: true, RESP: 3 })
      await client.connect()
      return {
        client: client.withTypeMapping({ [RESP_TYPES.NUMBER]: String }) as unknown as RedisClient,
        close: () => client.close(),
      }
    },
  ],
  [
    'node-redis, strings and errors mapped to Buffers (commandOptions.typeMapping)',
    (url) =>
      node(
        createClient({
          url,
          disableOfflineQueue: true,
          RESP: 3,
          commandOptions: {
            typeMapping: {
              [RESP_TYPES.BLOB_STRING]: Buffer,
              [RESP_TYPES.SIMPLE_STRING]: Buffer,
              [RESP_TYPES.SIMPLE_ERROR]: Buffer,
            },
          },
        }),
      ),
  ],
  [
    'node-redis, keyPrefix',
    (url) => node(createClient({ url, disableOfflineQueue: true, keyPrefix: 'app2:' }), 'app2:'),
  ],
  [
    'node-redis, a pool (createClientPool)',
    (url) => node(createClientPool({ url, disableOfflineQueue: true }, { minimum: 2, maximum: 4 })),
  ],
]

const policies = [
  tokenBucket({ name: 'burst', capacity: 3, refillRate: 1, interval: '10 s' }),
  fixedWindow({ name: 'minute', limit: 4, window: '1 m' }),
  slidingWindow({ name: 'sliding', limit: 4, window: '1 m' }),
]

describeRedisServer('redisStore through clients with options that change their commands or replies', () => {
  let server: RedisServer
  let admin: Redis
  beforeAll(async () => {
    server = await startRedisServer()
    admin = new Redis(server.url)
  })
  afterAll(async () => {
    admin?.disconnect()
    await server?.stop()
  })

  /** EVALSHA and EVAL calls Redis ran since the last RESETSTAT, and the EVALSHAs that failed. */
  async function scriptCalls(): Promise<Record<string, number>> {
    const info = await admin.info('commandstats')
    const stat = (name: string, field: string) =>
      Number(new RegExp(`^cmdstat_${name}:.*\\b${field}=(\\d+)`, 'm').exec(info)?.[1] ?? 0)
    return {
      evalsha: stat('evalsha', 'calls'),
      failedEvalsha: stat('evalsha', 'failed_calls'),
      eval: stat('eval', 'calls'),
    }
  }

  it.each(CLIENTS)('%s: the same decisions as the memory store, one EVALSHA per call', async (name, make) => {
    const made = await make(server.url)
    const clock = manualClock(1_999_987_200_000)
    const prefix = `options-${CLIENTS.findIndex(([n]) => n === name)}`
    const config = { policies, prefix, denyCache: false, logger: false } as const
    const onRedis = createRateLimiter({ ...config, store: redisStore({ client: made.client, clock }) })
    const inMemory = createRateLimiter({ ...config, store: memoryStore({ clock }) })
    // One sequence on each: single decisions, five in one tick (one call), a peek, a cost, a cost
    // above every limit, time passing, and a reset; after a SCRIPT FLUSH between two of them.
    const run = async (limiter: RateLimiter, flush: () => Promise<unknown>) => {
      const start = clock()
      const out = [await limiter.limit('a')]
      out.push(...(await Promise.all(Array.from({ length: 5 }, () => limiter.limit('a')))))
      out.push(await limiter.peek('a'))
      clock.advance(5_000)
      out.push(await limiter.limit('a', { cost: 2 }), await limiter.limit('b', { cost: 9 }))
      clock.advance(30_000)
      await flush()
      out.push(await limiter.limit('a'))
      await limiter.reset('a')
      out.push(await limiter.limit('a'))
      clock.set(start)
      return out
    }
    try {
      await admin.script('FLUSH')
      await admin.config('RESETSTAT')
      const decisions = await run(onRedis, () => admin.script('FLUSH'))
      const calls = await scriptCalls()
      expect(decisions).toEqual(await run(inMemory, async () => undefined))
      expect(new Set(decisions.map((d) => d.reason))).toEqual(
        new Set(['allowed', 'limited', 'cost-exceeds-limit']),
      )
      // 7 calls (the five of one tick share one), each one EVALSHA; the 2 after a flush refused
      // with NOSCRIPT, and sent once more as EVAL. node-redis sends a reset's DEL as a script too.
      const resetByScript = name.startsWith('node-redis') ? 1 : 0
      expect(calls).toEqual({ evalsha: 7, failedEvalsha: 2, eval: 2 + resetByScript })
      // The client's key prefix is on every key the store wrote, and the reset found them.
      const keys = await admin.keys(`*${prefix}:*`)
      expect(keys).toHaveLength(policies.length)
      for (const key of keys) expect(key.startsWith(`${made.keyPrefix ?? ''}${prefix}:`)).toBe(true)
    } finally {
      await onRedis.close()
      await made.close()
    }
  })
})
