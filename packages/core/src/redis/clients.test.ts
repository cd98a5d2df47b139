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
    // A fixed delay (ms) reconnects too.
    redisStore({
      client: createClient({ ...settings, socket: { socketTimeout: 5_000, reconnectStrategy: 50 } }),
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
    // A cluster's nodes take it under `defaults`: set beside `rootNodes` (from JavaScript) it is ignored.
    redisStore({ client: createCluster({ rootNodes: [], disableOfflineQueue: true } as never), logger })
    expect(lines).toHaveLength(5)
    expect(lines[4]).toMatch(/disableOfflineQueue: true/)
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
    // Options that are not an options object at all.
    for (const bad of [undefined, null, [], 'redis://localhost']) {
      expect(() => redisStore(bad as never)).toThrow(
        expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', option: 'redisStore(options)' }),
      )
    }
    expect(() => redisStore({ client: createClient(), clok: () => 0 } as never)).toThrow(
      /ERR_FLOODGATE_UNKNOWN_OPTION/,
    )
    // A limiter's option given to the store is refused too, naming the store's own options.
    expect(() => redisStore({ client: createClient(), prefix: 'app' } as never)).toThrow(
      /Unknown option "prefix" in redisStore\(\)\. Known options: client, clock, logger\./,
    )
    expect(() => redisStore({ client: createClient(), clock: 5 as never })).toThrow(
      /ERR_FLOODGATE_INVALID_OPTION/,
    )
  })

  it("names the fix for a client given as the options, or under the other store's name", () => {
    const ioredis = new Redis({ lazyConnect: true })
    const upstash = new UpstashRedis({ url: 'http://127.0.0.1:1', token: 't', retry: false })
    for (const client of [ioredis, createClient()]) {
      expect(() => redisStore(client as never)).toThrow(
        expect.objectContaining({
          code: 'ERR_FLOODGATE_INVALID_OPTION',
          option: 'redisStore(options)',
          message: expect.stringMatching(
            /^Invalid `redisStore\(options\)`: got a Redis client; pass it as `client`: `redisStore\(\{ client \}\)`\./,
          ),
        }),
      )
    }
    expect(() => upstashStore(upstash as never)).toThrow(
      /^Invalid `upstashStore\(options\)`: got a Redis client; pass it as `redis`: `upstashStore\(\{ redis \}\)`\./,
    )
    expect(() => redisStore({ redis: ioredis } as never)).toThrow(
      /^Unknown option "redis" in redisStore\(\)\. The client goes in `client`: `redisStore\(\{ client \}\)`/,
    )
    expect(() => upstashStore({ client: upstash } as never)).toThrow(
      /^Unknown option "client" in upstashStore\(\)\. The client goes in `redis`: `upstashStore\(\{ redis \}\)`/,
    )
    // The client's own settings given to the store.
    for (const name of ['url', 'token']) {
      expect(() => upstashStore({ [name]: 'x' } as never)).toThrow(
        expect.objectContaining({
          code: 'ERR_FLOODGATE_UNKNOWN_OPTION',
          option: name,
          message: expect.stringMatching(
            new RegExp(
              `^Unknown option "${name}" in upstashStore\\(\\)\\. upstashStore takes an @upstash/redis client, not its settings: \`upstashStore\\(\\{ redis: new Redis\\(\\{ url, token, retry: \\{ retries: 0 \\} \\}\\) \\}\\)\`\\.`,
            ),
          ),
        }),
      )
    }
    // Options that hold a client in `client` are options, whatever they inherit.
    const options = Object.assign(Object.create({ evalsha: () => {} }), { client: ioredis, logger: false })
    expect(() => redisStore(options)).not.toThrow()
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
      // The option at fault, for code that reads `error.option` (docs/errors.md).
      expect(() => upstashStore({ redis: client as never })).toThrow(
        expect.objectContaining({ option: 'upstashStore.redis' }),
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

  it('reads the token from the authorization header of a client that does not say whether it has one', () => {
    const commands = { evalsha: async () => 0, eval: async () => 0, del: async () => 0 }
    for (const authorization of ['Bearer ', 'Bearer  \n', 'Bearer undefined']) {
      const redis = { ...commands, client: { headers: { authorization } } }
      expect(() => upstashStore({ redis, logger: false })).toThrow(
        expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', option: 'upstashStore.redis' }),
      )
    }
    const redis = { ...commands, client: { headers: { authorization: 'Bearer t' } } }
    expect(upstashStore({ redis, logger: false }).name).toBe('upstash')
  })

  it('rejects anything that is not an @upstash/redis client, and wrong or unknown options', () => {
    const redis = new UpstashRedis({ url: 'http://127.0.0.1:1', token: 't', retry: { retries: 0 } })
    for (const bad of [
      undefined,
      null,
      {},
      { evalsha: 1 },
      { evalsha: () => 0 },
      { eval: () => 0, del: () => 0 },
      'https://x.upstash.io',
    ]) {
      let caught: unknown
      try {
        upstashStore({ redis: bad as never })
      } catch (error) {
        caught = error
      }
      expect({
        bad,
        invalid: isFloodgateError(caught, 'ERR_FLOODGATE_INVALID_OPTION'),
        option: (caught as { option?: unknown } | undefined)?.option,
      }).toEqual({ bad, invalid: true, option: 'upstashStore.redis' })
    }
    // Options that are not an options object at all.
    for (const bad of [undefined, null, [], 'https://x.upstash.io']) {
      expect(() => upstashStore(bad as never)).toThrow(
        expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', option: 'upstashStore(options)' }),
      )
    }
    expect(() => upstashStore({ redis, clok: () => 0 } as never)).toThrow(/ERR_FLOODGATE_UNKNOWN_OPTION/)
    expect(() => upstashStore({ redis, prefix: 'app' } as never)).toThrow(
      /Unknown option "prefix" in upstashStore\(\)\. Known options: redis, clock, logger\./,
    )
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
    // The cluster's own command options override any its nodes' defaults hold (typed out of
    // `defaults`, but a JavaScript caller can put them there).
    const both = createCluster({
      rootNodes: [{ url: 'redis://127.0.0.1:1' }],
      defaults: { disableOfflineQueue: true, commandOptions: { timeout: 400 } } as never,
      commandOptions: { timeout: 150 },
    })
    const detected = detectClient(both)
    expect([detected.replyTimeoutMs, detected.commandTimeoutMs]).toEqual([150, 150])
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
    // The same settings at the Cluster's top level (from JavaScript, or a spread config) reach no
    // node connection: ioredis hands its nodes `redisOptions` alone.
    const topLevel = new Cluster([{ host: '127.0.0.1', port: 1 }], {
      lazyConnect: true,
      commandTimeout: 50,
      socketTimeout: 60,
      maxRetriesPerRequest: 0,
      redisOptions: { commandTimeout: 500, socketTimeout: 600 },
    } as never)
    const pool = (topLevel as unknown as { connectionPool: { findOrCreate(node: object): Redis } })
      .connectionPool
    const { commandTimeout, socketTimeout, maxRetriesPerRequest } = pool.findOrCreate({
      host: '127.0.0.1',
      port: 1,
    }).options
    expect([commandTimeout, socketTimeout, maxRetriesPerRequest]).toEqual([500, 600, 20])
    const detected = detectClient(topLevel)
    expect([detected.commandTimeoutMs, detected.socketTimeoutMs]).toEqual([500, 600])
    // The nodes give up after 20 retries: ioredis's message names the setting to fix, and stays.
    const gaveUp = Object.assign(new Error('Reached the max retries per request limit (which is 20).'), {
      name: 'MaxRetriesPerRequestError',
    })
    expect(detected.runner.explain!(gaveUp)).toBe(gaveUp)
    topLevel.disconnect()
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
    // Only a Cluster passes redisOptions on: a single client given them (from JavaScript) ignores them.
    const stray = detectClient(
      new Redis({ lazyConnect: true, redisOptions: { commandTimeout: 150, socketTimeout: 170 } } as never),
    )
    expect([stray.commandTimeoutMs, stray.socketTimeoutMs]).toEqual([undefined, undefined])
  })

  it('are none where set to 0, a negative number, Infinity or NaN (no timeout to bound a deadline by)', () => {
    const commands = { evalsha: async () => null, eval: async () => null, del: async () => 0 }
    for (const ms of [0, -1, Number.POSITIVE_INFINITY, Number.NaN]) {
      const io = detectClient({ ...commands, options: { commandTimeout: ms, socketTimeout: ms } })
      expect([io.commandTimeoutMs, io.socketTimeoutMs], String(ms)).toEqual([undefined, undefined])
    }
    // 1 ms is a timeout like any other.
    const shortest = detectClient({ ...commands, options: { commandTimeout: 1, socketTimeout: 1 } })
    expect([shortest.commandTimeoutMs, shortest.socketTimeoutMs]).toEqual([1, 1])
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
    // A Cluster's node connections take it under redisOptions.
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], {
      lazyConnect: true,
      redisOptions: { maxRetriesPerRequest: 0 },
    })
    expect((detectClient(cluster).runner.explain!(gaveUp(0)) as Error).message).toMatch(
      /^The ioredis client's connection to Redis closed before Redis answered/,
    )
    // Anything else, Redis's own replies included, goes on as it is.
    const reply = new Error('NOPERM this user has no permissions to run the evalsha command')
    expect(runner.explain?.(reply)).toBe(reply)
  })
})

describe("a client's readiness, as its state tells it", () => {
  const commands = { evalsha: async () => null, eval: async () => null, del: async () => 0 }
  function refusal(assertReady: (() => void) | undefined): string | undefined {
    try {
      assertReady?.()
    } catch (error) {
      expect(isFloodgateError(error, 'ERR_FLOODGATE_STORE_ERROR')).toBe(true)
      // Without the code and link every FloodgateError's message ends with.
      return (error as Error).message.split(' (ERR_FLOODGATE_STORE_ERROR, see ')[0]
    }
    return undefined
  }

  it("ioredis: refuses a call while its status says it cannot send, naming why, and starts a lazyConnect client's connection", () => {
    const io = (status: string, enableOfflineQueue: boolean, connect?: () => Promise<unknown>) =>
      detectClient({ ...commands, status, connect, options: { enableOfflineQueue } }).runner.assertReady
    const connecting =
      "The ioredis client is not connected to Redis (it is connecting); if it cannot connect, its 'error' events say why."
    for (const offlineQueue of [false, true]) {
      expect(refusal(io('reconnecting', offlineQueue))).toBe(
        "The ioredis client is not connected to Redis (it is reconnecting); if it cannot connect, its 'error' events say why.",
      )
      expect(refusal(io('end', offlineQueue))).toBe(
        'The ioredis client is not connected to Redis (it was closed); closed by quit() or disconnect(), or after its retryStrategy gave up; keep it open while limiters use it.',
      )
      expect(refusal(io('close', offlineQueue))).toBe(
        "The ioredis client is not connected to Redis (its connection closed); if it cannot connect, its 'error' events say why.",
      )
      expect(refusal(io('ready', offlineQueue))).toBeUndefined()
    }
    // Not ready yet: refused only without an offline queue (which would hold the command until then).
    for (const status of ['wait', 'connecting', 'connect']) {
      expect(refusal(io(status, false)), status).toBe(connecting)
      expect(refusal(io(status, true)), status).toBeUndefined()
    }
    const connects: string[] = []
    const lazy = (status: string) => async () => void connects.push(status)
    for (const status of ['wait', 'connecting', 'connect']) refusal(io(status, false, lazy(status)))
    expect(connects).toEqual(['wait'])
  })

  it('node-redis: refuses a call only while it is open and not ready', () => {
    const node = (isOpen: boolean, isReady: boolean) =>
      detectClient({ ...commands, evalSha: async () => null, isOpen, isReady }).runner.assertReady
    expect(refusal(node(true, false))).toBe(
      "The node-redis client is not connected to Redis (it is connecting or reconnecting); if it cannot connect, its 'error' events say why.",
    )
    expect(refusal(node(true, true))).toBeUndefined()
    // Never connected (or closed): node-redis refuses the command itself, with its own message.
    expect(refusal(node(false, false))).toBeUndefined()
    expect(refusal(node(false, true))).toBeUndefined()
  })

  it('passes on what an ioredis client fails with when it is no Error, as it is', () => {
    const { runner } = detectClient(new Redis({ lazyConnect: true }))
    expect(runner.explain?.('refused')).toBe('refused')
    expect(runner.explain?.(null)).toBe(null)
  })
})

describe("a cluster client's shape", () => {
  const commands = { evalsha: async () => null, eval: async () => null, del: async () => 0 }

  it('is read from an ioredis Cluster and a node-redis cluster (its root nodes, or its masters)', () => {
    expect(detectClient(new Cluster([], { lazyConnect: true })).cluster).toBe(true)
    expect(detectClient(new Redis({ lazyConnect: true })).cluster).toBe(false)
    const node = { ...commands, evalSha: async () => null }
    expect(detectClient({ ...node, options: { rootNodes: [] } }).cluster).toBe(true)
    expect(detectClient({ ...node, getMasters: () => [] }).cluster).toBe(true)
    expect(detectClient({ ...node, options: {} }).cluster).toBe(false)
  })

  it("names each slot's master node from the client's slot table, and none it does not know", () => {
    const io = detectClient({
      ...commands,
      isCluster: true,
      slots: [['10.0.0.1:6379', '10.0.0.2:6379'], ['10.0.0.3:6379']],
    }).runner
    expect([io.nodeOf?.(0), io.nodeOf?.(1), io.nodeOf?.(2)]).toEqual([
      '10.0.0.1:6379',
      '10.0.0.3:6379',
      undefined,
    ])
    expect(detectClient({ ...commands, slots: [[7]] }).runner.nodeOf?.(0)).toBeUndefined()
    const node = detectClient({
      ...commands,
      evalSha: async () => null,
      getMasters: () => [],
      slots: [{ master: { address: '10.0.0.4:6379' } }, { master: {} }],
    }).runner
    expect([node.nodeOf?.(0), node.nodeOf?.(1), node.nodeOf?.(2)]).toEqual([
      '10.0.0.4:6379',
      undefined,
      undefined,
    ])
  })

  it('sends node-redis 4 cluster commands (its options private) through sendCommand, keyed by their first key', async () => {
    const sent: unknown[][] = []
    const viaMethods: string[] = []
    const cluster = {
      getMasters: () => [],
      sendCommand(...args: unknown[]) {
        sent.push(args)
        return Promise.resolve(1)
      },
      evalSha: async () => void viaMethods.push('evalSha'),
      eval: async () => void viaMethods.push('eval'),
      del: async () => 0,
    }
    const { runner } = detectClient(cluster)
    await runner.evalsha('sha', ['{k}a', '{k}b'], ['1'])
    await runner.eval('script', ['{k}a'], ['2'])
    await runner.del(['{k}a', '{k}b'])
    expect(viaMethods).toEqual([])
    expect(sent.map((args) => args.slice(0, 2))).toEqual([
      ['{k}a', false],
      ['{k}a', false],
      ['{k}a', false],
    ])
    expect(sent[0]![2]).toEqual(['EVALSHA', 'sha', '2', '{k}a', '{k}b', '1'])
    expect(sent[1]![2]).toEqual(['EVAL', 'script', '1', '{k}a', '2'])
    expect(sent[2]![2]).toEqual(['EVAL', expect.stringContaining("redis.call('DEL'"), '2', '{k}a', '{k}b'])
    // With its options readable (node-redis 5 and later), or not a cluster, the methods take the call.
    for (const client of [
      { ...cluster, options: { rootNodes: [] } },
      { ...cluster, getMasters: undefined },
    ]) {
      sent.length = 0
      viaMethods.length = 0
      const { runner: direct } = detectClient(client)
      await direct.evalsha('sha', ['{k}a'], [])
      await direct.eval('script', ['{k}a'], [])
      await direct.del(['{k}a'])
      expect(sent).toEqual([])
      expect(viaMethods).toEqual(['evalSha', 'eval', 'eval'])
    }
  })
})

describe('node-redis in legacyMode', () => {
  it('takes its promise API from `v4`, and refuses a client without one', async () => {
    const calls: string[] = []
    const v4 = {
      evalSha: async () => void calls.push('v4.evalSha'),
      eval: async () => void calls.push('v4.eval'),
      del: async () => 0,
    }
    const legacy = {
      evalSha: () => void calls.push('legacy.evalSha'),
      eval: () => void calls.push('legacy.eval'),
      del: () => undefined,
      options: { legacyMode: true, disableOfflineQueue: true },
    }
    const detected = detectClient({ ...legacy, v4 })
    expect([detected.library, detected.problems]).toEqual(['node-redis', []])
    await detected.runner.evalsha('sha', ['k'], [])
    await detected.runner.eval('script', ['k'], [])
    expect(calls).toEqual(['v4.evalSha', 'v4.eval'])
    expect(() => detectClient(legacy)).toThrow(/`legacyMode` without its promise API \(`client.v4`\)/)
    // Not in legacyMode: its own methods, whatever `v4` holds.
    calls.length = 0
    await detectClient({ ...legacy, options: { legacyMode: false }, v4 }).runner.evalsha('sha', ['k'], [])
    expect(calls).toEqual(['legacy.evalSha'])
  })

  it("refuses node-redis 5 and 6's client.legacy() wrapper by its shape too, where a bundle renamed its class", () => {
    // Its commands are set on the object itself, under both spellings; it has no `isOpen`.
    const command = () => undefined
    const renamed = new (class L {
      evalSha = command
      EVALSHA = command
      eval = command
      del = command
    })()
    expect(() => detectClient(renamed)).toThrow(/`client.legacy\(\)`/)
    // A client (its commands on its prototype, `isOpen` set) is taken as ever.
    expect(detectClient({ ...renamed, isOpen: false }).library).toBe('node-redis')
  })
})

describe("node-redis's socket timeout warning", () => {
  it('is given for any timeout of 1 ms or more without a reconnect strategy, and none for 0', () => {
    const node = (socketTimeout: number) =>
      detectClient({
        evalSha: async () => null,
        eval: async () => null,
        del: async () => 0,
        options: { disableOfflineQueue: true, socket: { socketTimeout } },
      }).problems
    expect(node(0)).toEqual([])
    expect(node(1)).toHaveLength(1)
    expect(node(1)[0]).toMatch(/socket\.reconnectStrategy/)
  })
})
