import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'
import { type FaultProxy, startFaultProxy } from './fault-proxy.js'
import { type RedisServer, startRedisServer } from './redis-server.js'
import { sendRespCommand } from './resp-command.js'
import { describeRedisServer } from './vitest-redis.js'

// Short bounded waits: a blackholed or dropped reply can only be observed as a client timeout.
const COMMAND_TIMEOUT_MS = 150

describeRedisServer('startFaultProxy in front of a private redis-server', () => {
  let redisServer: RedisServer
  let proxy: FaultProxy
  const clients: Redis[] = []
  const client = (options: { commandTimeout?: number } = {}) => {
    const redis = new Redis(proxy.url, { maxRetriesPerRequest: 0, retryStrategy: () => null, ...options })
    redis.on('error', () => {})
    clients.push(redis)
    return redis
  }
  const direct = (args: string[]) => sendRespCommand(redisServer.host, redisServer.port, args)

  beforeAll(async () => {
    redisServer = await startRedisServer()
  })
  afterAll(async () => {
    await redisServer?.stop()
  })
  beforeEach(async () => {
    proxy = await startFaultProxy({ target: { host: redisServer.host, port: redisServer.port } })
  })
  afterEach(async () => {
    for (const redis of clients.splice(0)) redis.disconnect()
    await proxy.stop()
  })

  it('passes commands and replies through in pass mode', async () => {
    const redis = client()
    expect(await redis.set('proxy:pass', 'v')).toBe('OK')
    expect(await redis.get('proxy:pass')).toBe('v')
    expect(proxy.stats.connections).toBe(1)
  })

  it('refuses new connections in refuse mode, and accepts them again in pass mode', async () => {
    proxy.setMode('refuse')
    const refused = new Redis(proxy.url, {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    })
    refused.on('error', () => {})
    clients.push(refused)
    await expect(refused.connect().then(() => refused.ping())).rejects.toThrow()
    proxy.setMode('pass')
    expect(await client().ping()).toBe('PONG')
  })

  it('keeps already open connections working in refuse mode until dropConnections()', async () => {
    const redis = client()
    expect(await redis.ping()).toBe('PONG')
    proxy.setMode('refuse')
    expect(await redis.ping()).toBe('PONG')
    const closed = new Promise((resolve) => redis.once('close', resolve))
    proxy.dropConnections()
    await closed
  })

  it('forwards nothing and answers nothing in blackhole mode', async () => {
    const redis = client({ commandTimeout: COMMAND_TIMEOUT_MS })
    expect(await redis.ping()).toBe('PONG')
    proxy.setMode('blackhole')
    await expect(redis.set('proxy:blackhole', 'lost')).rejects.toThrow(/timed out/)
    expect(await direct(['EXISTS', 'proxy:blackhole'])).toBe(0)
  })

  it('closes connections that lost bytes in the blackhole when the mode changes', async () => {
    const redis = client({ commandTimeout: COMMAND_TIMEOUT_MS })
    await redis.ping()
    proxy.setMode('blackhole')
    await expect(redis.ping()).rejects.toThrow(/timed out/)
    const closed = new Promise((resolve) => redis.once('close', resolve))
    proxy.setMode('pass')
    await closed
    expect(await client().ping()).toBe('PONG')
  })

  it('holds replies for at least delayMs in delay mode, keeping their order', async () => {
    const redis = client()
    await redis.ping()
    proxy.setMode('delay', { delayMs: 120 })
    const startedMs = performance.now()
    const replies = await Promise.all([
      redis.incr('proxy:delay'),
      redis.incr('proxy:delay'),
      redis.incr('proxy:delay'),
    ])
    expect(performance.now() - startedMs).toBeGreaterThanOrEqual(120)
    expect(replies).toEqual([1, 2, 3])
  })

  it('times a client out when a delayed reply comes after its command timeout', async () => {
    const redis = client({ commandTimeout: COMMAND_TIMEOUT_MS })
    await redis.ping()
    proxy.setMode('delay', { delayMs: COMMAND_TIMEOUT_MS * 4 })
    await expect(redis.incr('proxy:slow')).rejects.toThrow(/timed out/)
    // The command itself ran: only its reply was late.
    expect(await direct(['GET', 'proxy:slow'])).toBe('1')
  })

  it('dropNextReply runs the command but loses its reply, and only that connection goes silent', async () => {
    const victim = client({ commandTimeout: COMMAND_TIMEOUT_MS })
    const bystander = client()
    await Promise.all([victim.ping(), bystander.ping()])
    proxy.dropNextReply()
    await expect(victim.incr('proxy:dropped')).rejects.toThrow(/timed out/)
    expect(await direct(['GET', 'proxy:dropped'])).toBe('1')
    // No later command on the silent connection reaches Redis or gets a misattributed reply.
    await expect(victim.incr('proxy:dropped')).rejects.toThrow(/timed out/)
    expect(await direct(['GET', 'proxy:dropped'])).toBe('1')
    expect(await bystander.incr('proxy:dropped')).toBe(2)
  })

  it('stop() closes client connections', async () => {
    const redis = client()
    await redis.ping()
    const closed = new Promise((resolve) => redis.once('close', resolve))
    await proxy.stop()
    await closed
  })
})
