import { Ratelimit } from '@upstash/ratelimit'
import { Redis as UpstashRedis } from '@upstash/redis'
import { afterAll, afterEach, beforeAll, beforeEach, expect, it, vi } from 'vitest'
import { type FaultProxy, startFaultProxy } from './fault-proxy.js'
import { type RedisServer, startRedisServer } from './redis-server.js'
import { startUpstashServer, type UpstashServer } from './upstash-server.js'
import { describeRedisServer } from './vitest-redis.js'

const NOW_MS = Date.UTC(2030, 0, 1, 12, 0, 30)

describeRedisServer('the Upstash server when Redis fails', () => {
  let redisServer: RedisServer
  let upstash: UpstashServer
  let redis: UpstashRedis
  beforeAll(async () => {
    redisServer = await startRedisServer()
    upstash = await startUpstashServer({ redisUrl: redisServer.url })
    redis = new UpstashRedis({
      url: upstash.url,
      token: upstash.token,
      retry: false,
      enableAutoPipelining: false,
    })
  })
  afterAll(async () => {
    await upstash?.stop()
    await redisServer?.stop()
  })
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'], now: NOW_MS })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  const ping = (path = '/', body: unknown = ['PING']) =>
    fetch(`${upstash.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${upstash.token}` },
      body: JSON.stringify(body),
    })

  it('answers 503 at once while Redis is down, then serves again after a restart', async () => {
    await redisServer.stop()
    const down = await ping()
    expect(down.status).toBe(503)
    const pipelineDown = await ping('/pipeline', [['PING'], ['PING']])
    expect(pipelineDown.status).toBe(503)

    await redisServer.restart()
    expect(await untilOk(() => ping())).toBe(200)
  })

  it('keeps @upstash/ratelimit working after Redis restarts empty (script cache lost)', async () => {
    const ratelimit = new Ratelimit({
      redis,
      limiter: Ratelimit.fixedWindow(3, '60 s'),
      prefix: 'tools-test:restart',
      ephemeralCache: false,
    })
    expect((await ratelimit.limit('client')).remaining).toBe(2)
    expect((await ratelimit.limit('client')).remaining).toBe(1)
    await redisServer.restart()
    await untilOk(() => ping())
    // Counters are gone with the data: the budget starts again.
    expect((await ratelimit.limit('client')).remaining).toBe(2)
  })
})

describeRedisServer('the Upstash server with commandTimeoutMs', () => {
  let redisServer: RedisServer
  let proxy: FaultProxy
  let upstash: UpstashServer
  beforeAll(async () => {
    redisServer = await startRedisServer()
    proxy = await startFaultProxy({ target: redisServer })
    upstash = await startUpstashServer({ redisUrl: proxy.url, commandTimeoutMs: 100 })
  })
  afterAll(async () => {
    await upstash?.stop()
    await proxy?.stop()
    await redisServer?.stop()
  })

  it('answers 503 when Redis stops replying, instead of hanging', async () => {
    proxy.setMode('blackhole')
    const response = await fetch(upstash.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${upstash.token}` },
      body: JSON.stringify(['INCR', 'tools-test:timeout']),
    })
    expect(response.status).toBe(503)
    expect(((await response.json()) as { error: string }).error).toMatch(/timed out/)
  })
})

/** Bounded wait for ioredis to reconnect (its backoff is at most 500 ms): up to 5 s. */
async function untilOk(request: () => Promise<Response>): Promise<number> {
  const deadline = performance.now() + 5_000
  let status = 0
  while (performance.now() < deadline) {
    status = (await request()).status
    if (status === 200) return status
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return status
}
