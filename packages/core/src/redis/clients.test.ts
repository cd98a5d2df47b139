import { Redis as UpstashRedis } from '@upstash/redis'
import { Cluster, Redis } from 'ioredis'
import { createClient, createCluster } from 'redis'
import { describe, expect, it } from 'vitest'
import { isFloodgateError } from '../errors.js'
import { upstashStore } from '../upstash/upstash-store.js'
import { detectClient } from './clients.js'
import { redisStore } from './redis-store.js'

// Client detection and the one-time settings warning. No command is sent: clients stay unconnected.

function collect() {
  const lines: string[] = []
  return { lines, logger: { warn: (line: string) => lines.push(line) } }
}

describe('redisStore client settings', () => {
  it('warns once per client that queues offline or re-sends unanswered commands, naming the fix', () => {
    const client = new Redis({ lazyConnect: true })
    const { lines, logger } = collect()
    redisStore({ client, logger })
    redisStore({ client, logger })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/enableOfflineQueue: false/)
    expect(lines[0]).toMatch(/autoResendUnfulfilledCommands: false/)
  })

  it('stays quiet for clients set up as documented', () => {
    const { lines, logger } = collect()
    redisStore({
      client: new Redis({
        lazyConnect: true,
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
      }),
      logger,
    })
    redisStore({
      client: new Cluster([], { lazyConnect: true, enableOfflineQueue: false, retryDelayOnFailover: 0 }),
      logger,
    })
    redisStore({ client: createClient({ disableOfflineQueue: true }), logger })
    upstashStore({
      redis: new UpstashRedis({ url: 'http://127.0.0.1:1', token: 't', retry: { retries: 0 } }),
      logger,
    })
    expect(lines).toEqual([])
  })

  it('warns for a node-redis socket timeout without a reconnect strategy, which closes an idle client for good', () => {
    const { lines, logger } = collect()
    const settings = { disableOfflineQueue: true, commandOptions: { timeout: 200 } }
    redisStore({ client: createClient({ ...settings, socket: { socketTimeout: 5_000 } }), logger })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/socket\.reconnectStrategy/)
    const reconnectStrategy = (retries: number) => Math.min(50 * 2 ** retries, 2_000)
    redisStore({
      client: createClient({ ...settings, socket: { socketTimeout: 5_000, reconnectStrategy } }),
      logger,
    })
    redisStore({ client: createClient(settings), logger })
    redisStore({
      client: createCluster({ rootNodes: [], defaults: { ...settings, socket: { socketTimeout: 5_000 } } }),
      logger,
    })
    expect(lines).toHaveLength(2)
    expect(lines[1]).toMatch(/socket\.reconnectStrategy/)
  })

  it('names the setting for an ioredis Cluster, node-redis and @upstash/redis', () => {
    const { lines, logger } = collect()
    redisStore({ client: new Cluster([], { lazyConnect: true }), logger })
    redisStore({ client: createClient(), logger })
    upstashStore({ redis: new UpstashRedis({ url: 'http://127.0.0.1:1', token: 't', retry: false }), logger })
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/retryDelayOnFailover: 0/)
    expect(lines[1]).toMatch(/disableOfflineQueue: true/)
    expect(lines[2]).toMatch(/retries: 0/)
    // `retry: false` still retries once; a client whose retry setting cannot be read is warned of too.
    expect(lines[2]).toMatch(/retries failed requests 1 time\(s\);/)
    const unknown = { evalsha: async () => 0, eval: async () => 0, del: async () => 0 }
    upstashStore({ redis: unknown, logger })
    expect(lines).toHaveLength(4)
    expect(lines[3]).toMatch(/retries failed requests \(its retry setting could not be read\);/)
  })

  it('rejects anything that is not a supported client, and unknown options', () => {
    for (const bad of [{}, null, { evalsha: 1 }, 'redis://localhost']) {
      let caught: unknown
      try {
        redisStore({ client: bad as never })
      } catch (error) {
        caught = error
      }
      expect(isFloodgateError(caught, 'ERR_FLOODGATE_INVALID_OPTION')).toBe(true)
    }
    expect(() => redisStore({ client: createClient(), clok: () => 0 } as never)).toThrow(
      /ERR_FLOODGATE_UNKNOWN_OPTION/,
    )
    expect(() => redisStore({ client: createClient(), clock: 5 as never })).toThrow(
      /ERR_FLOODGATE_INVALID_OPTION/,
    )
  })

  it('refuses a client of the other store, naming the store it belongs to', () => {
    // Each has `evalsha` (and `eval`) with another signature: accepted, every decision would fail
    // and pass under onStoreError 'allow'.
    const upstash = new UpstashRedis({ url: 'http://127.0.0.1:1', token: 't' })
    expect(() => redisStore({ client: upstash as never })).toThrow(
      /`redisStore.client`: got an @upstash\/redis client.*`upstashStore\(\{ redis \}\)`.*ERR_FLOODGATE_INVALID_OPTION/s,
    )
    const ioredisClient = new Redis({ lazyConnect: true })
    const nodeRedisClient = createClient()
    for (const [client, library] of [
      [ioredisClient, 'an ioredis'],
      [new Cluster([], { lazyConnect: true }), 'an ioredis'],
      [nodeRedisClient, 'a node-redis'],
    ] as const) {
      expect(() => upstashStore({ redis: client as never })).toThrow(
        new RegExp(`\`upstashStore.redis\`: got ${library} client.*\`redisStore\\(\\{ client \\}\\)\``, 's'),
      )
    }
    ioredisClient.disconnect()
  })

  it('refuses an @upstash/redis client made without a URL or a token', () => {
    // `Redis.fromEnv()` with UPSTASH_REDIS_REST_URL unset: every call fails, and passes under 'allow'.
    for (const [url, token] of [
      ['', ''],
      ['', 'token'],
      ['http://127.0.0.1:1', ''],
      // `Redis.fromEnv()` with only the token unset: @upstash/redis sends "Bearer undefined".
      ['http://127.0.0.1:1', undefined],
      ['http://127.0.0.1:1', null],
    ]) {
      expect(() => upstashStore({ redis: new UpstashRedis({ url, token } as never) })).toThrow(
        /`upstashStore.redis`: the @upstash\/redis client has no URL or no token.*UPSTASH_REDIS_REST_URL.*ERR_FLOODGATE_INVALID_OPTION/s,
      )
    }
    expect(upstashStore({ redis: new UpstashRedis({ url: 'http://127.0.0.1:1', token: 't' }) }).name).toBe(
      'upstash',
    )
  })

  it('rejects anything that is not an @upstash/redis client, and wrong or unknown options', () => {
    const redis = new UpstashRedis({ url: 'http://127.0.0.1:1', token: 't', retry: { retries: 0 } })
    for (const bad of [undefined, null, {}, { evalsha: 1 }, { evalsha: () => 0 }, 'https://x.upstash.io']) {
      let caught: unknown
      try {
        upstashStore({ redis: bad as never })
      } catch (error) {
        caught = error
      }
      expect({ bad, invalid: isFloodgateError(caught, 'ERR_FLOODGATE_INVALID_OPTION') }).toEqual({
        bad,
        invalid: true,
      })
    }
    expect(() => upstashStore({ redis, clok: () => 0 } as never)).toThrow(/ERR_FLOODGATE_UNKNOWN_OPTION/)
    expect(() => upstashStore({ redis, clock: 5 as never })).toThrow(/ERR_FLOODGATE_INVALID_OPTION/)
    expect(() => upstashStore({ redis, logger: 'pino' as never })).toThrow(/ERR_FLOODGATE_INVALID_OPTION/)
  })
})

describe('the reply timeout', () => {
  it("is node-redis's commandOptions.timeout, on a client and on a cluster, and unset otherwise", () => {
    const timed = createClient({ disableOfflineQueue: true, commandOptions: { timeout: 200 } })
    expect(detectClient(timed).replyTimeoutMs).toBe(200)
    expect(detectClient(createClient({ disableOfflineQueue: true })).replyTimeoutMs).toBeUndefined()
    const cluster = createCluster({
      rootNodes: [{ url: 'redis://127.0.0.1:1' }],
      defaults: { disableOfflineQueue: true },
      commandOptions: { timeout: 150 },
    })
    expect(detectClient(cluster).replyTimeoutMs).toBe(150)
    // ioredis's commandTimeout already covers a command until its reply.
    expect(detectClient(new Redis({ lazyConnect: true, commandTimeout: 200 })).replyTimeoutMs).toBeUndefined()
  })
})

describe("the client's own timeouts, which bound a call's deadline", () => {
  it('are read from ioredis, its Cluster (under redisOptions) and node-redis', () => {
    const io = detectClient(new Redis({ lazyConnect: true, commandTimeout: 200, socketTimeout: 220 }))
    expect([io.commandTimeoutMs, io.socketTimeoutMs, io.socketTimeoutFromWrite]).toEqual([200, 220, false])
    const ioCluster = detectClient(
      new Cluster([{ host: '127.0.0.1', port: 1 }], {
        lazyConnect: true,
        redisOptions: { commandTimeout: 150, socketTimeout: 170 },
      }),
    )
    expect([ioCluster.commandTimeoutMs, ioCluster.socketTimeoutMs]).toEqual([150, 170])
    const node = detectClient(
      createClient({
        commandOptions: { timeout: 200 },
        socket: { socketTimeout: 5_000, reconnectStrategy: 50 },
      }),
    )
    expect([node.commandTimeoutMs, node.socketTimeoutMs, node.socketTimeoutFromWrite]).toEqual([
      200,
      5_000,
      true,
    ])
    const none = detectClient(new Redis({ lazyConnect: true }))
    expect([none.commandTimeoutMs, none.socketTimeoutMs]).toEqual([undefined, undefined])
  })

  it('are none where set to 0, a negative number, Infinity or NaN (no timeout to bound a deadline by)', () => {
    const commands = { evalsha: async () => null, eval: async () => null, del: async () => 0 }
    for (const ms of [0, -1, Number.POSITIVE_INFINITY, Number.NaN]) {
      const io = detectClient({ ...commands, options: { commandTimeout: ms, socketTimeout: ms } })
      expect([io.commandTimeoutMs, io.socketTimeoutMs], String(ms)).toEqual([undefined, undefined])
    }
  })
})

describe("ioredis's errors for a dropped connection", () => {
  it('are told as a closed connection, not as the settings the docs ask for', () => {
    const { runner } = detectClient(new Redis({ lazyConnect: true }))
    const refused = new Error("Stream isn't writeable and enableOfflineQueue options is false")
    const explained = runner.explain?.(refused)
    expect(isFloodgateError(explained)).toBe(true)
    expect((explained as Error).message).toMatch(
      /^The ioredis client is not connected to Redis \(its connection closed\); if it cannot connect, its 'error' events say why\./,
    )
    expect((explained as Error).cause).toBe(refused)
    // A dropped connection's MaxRetriesPerRequestError names the setting only when it is not 0 as
    // asked for: then it is the one to fix, and ioredis's message stays.
    const gaveUp = (times: number) =>
      Object.assign(new Error(`Reached the max retries per request limit (which is ${times}).`), {
        name: 'MaxRetriesPerRequestError',
      })
    expect((runner.explain!(gaveUp(20)) as Error).name).toBe('MaxRetriesPerRequestError')
    const asked = detectClient(new Redis({ lazyConnect: true, maxRetriesPerRequest: 0 })).runner
    expect((asked.explain!(gaveUp(0)) as Error).message).toMatch(
      /^The ioredis client's connection to Redis closed before Redis answered \(it may have counted the request\)/,
    )
    // Anything else, Redis's own replies included, goes on as it is.
    const reply = new Error('NOPERM this user has no permissions to run the evalsha command')
    expect(runner.explain?.(reply)).toBe(reply)
  })
})
