import * as net from 'node:net'
import {
  describeRedisServer,
  expectNoUnhandledRejections,
  findFreePort,
  type RedisServer,
  startRedisServer,
  upstashTestClient,
} from '@floodgate/tools'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERROR_CODES, type FloodgateError } from '../errors.js'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import type { RateLimitStore } from '../store.js'
import { upstashStore } from '../upstash/upstash-store.js'
import { redisStore } from './redis-store.js'

// What an operator reads when the store points at the wrong place: the failure reported to
// `onStoreFailure` (and logged) must say what is wrong, not blame a setting the docs recommend.

const policies = fixedWindow({ name: 'misconfigured', limit: 5, window: '1 m' })

/** A FloodgateError's message without the code and link every one ends with. */
const told = (error: FloodgateError) => error.message.slice(0, error.message.lastIndexOf(' (ERR_FLOODGATE_'))

/** One decision on `store`: the failure it reported (its decision a store error). */
async function failureOf(store: RateLimitStore): Promise<FloodgateError> {
  const failures: FloodgateError[] = []
  const limiter = createRateLimiter({
    policies,
    store,
    logger: false,
    onStoreFailure: (error) => void failures.push(error),
  })
  try {
    const decision = await limiter.limit('someone')
    expect(decision.reason).toBe('store-error')
    expect(failures).toHaveLength(1)
    return failures[0]!
  } finally {
    await limiter.close()
  }
}

describe('a store pointed at a server that never answers (a TLS port spoken to in plain text)', () => {
  let silent: net.Server
  let port: number
  const sockets = new Set<net.Socket>()
  beforeAll(async () => {
    silent = net.createServer((socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
    })
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    port = (silent.address() as net.AddressInfo).port
  })
  afterAll(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => silent.close(resolve))
  })

  it('ioredis: says the client is still connecting, not that `enableOfflineQueue: false` refused the command', async () => {
    const client = new Redis({
      host: '127.0.0.1',
      port,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 60_000,
    })
    client.on('error', () => undefined)
    try {
      // Connected over TCP, waiting for the answer to its ready check that never comes.
      await new Promise<void>((resolve) => client.once('connect', () => resolve()))
      expect(client.status).toBe('connect')
      const failure = await failureOf(redisStore({ client, logger: false }))
      expect(failure.code).toBe(ERROR_CODES.STORE_ERROR)
      expect(told(failure)).toBe(
        "The ioredis client is not connected to Redis (it is connecting); if it cannot connect, its 'error' events say why.",
      )
    } finally {
      client.disconnect()
    }
  })
})

describeRedisServer('a lazyConnect ioredis client', () => {
  let server: RedisServer
  beforeAll(async () => {
    server = await startRedisServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('is told it is connecting on its first call, which starts the connection, and decides once ready', async () => {
    const client = new Redis(server.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
    })
    try {
      expect(client.status).toBe('wait')
      const failure = await failureOf(redisStore({ client, logger: false }))
      expect(told(failure)).toBe(
        "The ioredis client is not connected to Redis (it is connecting); if it cannot connect, its 'error' events say why.",
      )
      await new Promise<void>((resolve) => client.once('ready', () => resolve()))
      const limiter = createRateLimiter({ policies, store: redisStore({ client, logger: false }) })
      expect((await limiter.limit('someone')).reason).toBe('allowed')
      await limiter.close()
    } finally {
      client.disconnect()
    }
  })
  it('says a client the app closed was closed, not that its (absent) error events say why', async () => {
    const client = new Redis(server.url, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
    })
    await new Promise<void>((resolve) => client.once('ready', () => resolve()))
    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()))
    await client.quit()
    await ended
    expect(client.status).toBe('end')
    const failure = await failureOf(redisStore({ client, logger: false }))
    expect(told(failure)).toBe(
      'The ioredis client is not connected to Redis (it was closed); closed by quit() or disconnect(), or after its retryStrategy gave up; keep it open while limiters use it.',
    )
  })
})

describeRedisServer('a store whose client Redis refuses (a wrong password)', () => {
  expectNoUnhandledRejections()
  let server: RedisServer
  beforeAll(async () => {
    server = await startRedisServer()
    const admin = new Redis(server.url, { maxRetriesPerRequest: 0 })
    await admin.config('SET', 'requirepass', 'right-password')
    admin.disconnect()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('node-redis: says the client is not connected, and where the reason is', async () => {
    const errors: string[] = []
    const client = createClient({
      url: `redis://:wrong-password@127.0.0.1:${server.port}`,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: () => 50 },
    })
    client.on('error', (error: Error) => errors.push(error.message))
    // As docs/stores.md says: not awaited, since it does not resolve while Redis refuses the client.
    const connecting = client.connect().catch(() => undefined)
    try {
      await new Promise<void>((resolve) => client.once('error', () => resolve()))
      const failure = await failureOf(redisStore({ client, logger: false }))
      expect(told(failure)).toBe(
        "The node-redis client is not connected to Redis (it is connecting or reconnecting); if it cannot connect, its 'error' events say why.",
      )
      expect(errors.some((message) => message.includes('WRONGPASS'))).toBe(true)
    } finally {
      client.destroy()
      await connecting
    }
  })
})

describeRedisServer('a store given a read-only replica', () => {
  let primary: RedisServer
  let replica: RedisServer
  beforeAll(async () => {
    primary = await startRedisServer()
    replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(primary.port)] })
  })
  afterAll(async () => {
    await replica?.stop()
    await primary?.stop()
  })

  it("passes Redis's READONLY reply on with one full stop", async () => {
    const client = new Redis(replica.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
    try {
      await new Promise<void>((resolve) => client.once('ready', () => resolve()))
      const failure = await failureOf(redisStore({ client, logger: false }))
      expect(told(failure)).toMatch(
        /^The redis store failed: READONLY You can't write against a read only replica\..*[^.]\.$/,
      )
    } finally {
      client.disconnect()
    }
  })
})

describeRedisServer('an ioredis client whose connection drops with decisions in flight', () => {
  let server: RedisServer
  beforeAll(async () => {
    server = await startRedisServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('says the connection closed, not that `maxRetriesPerRequest` (0, as the docs ask) was reached', async () => {
    const admin = new Redis(server.url)
    const client = new Redis(server.url, {
      connectionName: 'dropped',
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
    })
    client.on('error', () => undefined)
    const failures: FloodgateError[] = []
    const limiter = createRateLimiter({
      policies,
      store: redisStore({ client, logger: false }),
      logger: false,
      onStoreFailure: (error) => void failures.push(error),
    })
    try {
      await new Promise<void>((resolve) => client.once('ready', () => resolve()))
      // Redis holds the decisions unanswered while the connection is cut under them.
      await admin.client('PAUSE', 2_000, 'WRITE')
      const decisions = Promise.all([limiter.limit('a'), limiter.limit('b')])
      // Until Redis holds the script call: CLIENT LIST shows it as the connection's last command.
      let line: string | undefined
      while (!line?.includes(' cmd=evalsha ')) {
        const list = (await admin.client('LIST')) as string
        line = list.split('\n').find((l) => l.includes(' name=dropped '))
      }
      await admin.client('KILL', /addr=(\S+)/.exec(line)![1]!)
      expect((await decisions).map((d) => d.reason)).toEqual(['store-error', 'store-error'])
      const closed =
        "The ioredis client's connection to Redis closed before Redis answered (it may have counted the request); ioredis reports this as its maxRetriesPerRequest limit, which is 0 as it should be."
      expect(failures.map(told)).toEqual([closed, closed])
      expect((failures[0]!.cause as Error).name).toBe('MaxRetriesPerRequestError')
    } finally {
      await admin.client('UNPAUSE')
      await limiter.close()
      client.disconnect()
      admin.disconnect()
    }
  })
})

describe('an Upstash store whose URL has nothing listening', () => {
  it("names the refused connection that fetch's `fetch failed` keeps among its causes", async () => {
    const port = await findFreePort()
    const redis = upstashTestClient({ url: `http://127.0.0.1:${port}`, token: 'token' })
    const failure = await failureOf(upstashStore({ redis, logger: false }))
    expect(failure.code).toBe(ERROR_CODES.STORE_ERROR)
    expect(told(failure)).toMatch(
      new RegExp(
        `^The upstash store failed: fetch failed \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\)\\.$`,
      ),
    )
  })
})
