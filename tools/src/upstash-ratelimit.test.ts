import { Ratelimit } from '@upstash/ratelimit'
import { Redis as UpstashRedis } from '@upstash/redis'
import { afterAll, afterEach, beforeAll, beforeEach, expect, it, vi } from 'vitest'
import { type RedisServer, startRedisServer } from './redis-server.js'
import { sendRespCommand } from './resp-command.js'
import { startUpstashServer, type UpstashServer } from './upstash-server.js'
import { describeRedisServer } from './vitest-redis.js'

// @upstash/ratelimit reads Date.now(); a fixed fake date keeps every call inside one window.
const NOW_MS = Date.UTC(2030, 0, 1, 12, 0, 30)

describeRedisServer('@upstash/ratelimit through the local Upstash server', () => {
  let redisServer: RedisServer
  let upstash: UpstashServer
  let redis: UpstashRedis
  beforeAll(async () => {
    redisServer = await startRedisServer()
    upstash = await startUpstashServer({ redisUrl: redisServer.url })
    redis = new UpstashRedis({ url: upstash.url, token: upstash.token, retry: false })
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

  const limiters = [
    { name: 'fixedWindow', limiter: () => Ratelimit.fixedWindow(3, '60 s') },
    { name: 'slidingWindow', limiter: () => Ratelimit.slidingWindow(3, '60 s') },
    { name: 'tokenBucket', limiter: () => Ratelimit.tokenBucket(1, '60 s', 3) },
  ]

  it.each(limiters)('$name admits three requests and denies the fourth', async ({ name, limiter }) => {
    const ratelimit = new Ratelimit({
      redis,
      limiter: limiter(),
      prefix: `tools-test:${name}`,
      ephemeralCache: false,
    })
    const results = []
    for (let i = 0; i < 4; i++) results.push(await ratelimit.limit('client-1'))
    expect(results.map((r) => r.success)).toEqual([true, true, true, false])
    expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0])
    expect(results.every((r) => r.limit === 3)).toBe(true)
    // Another identifier has its own budget.
    expect((await ratelimit.limit('client-2')).success).toBe(true)
  })

  it('loads each shebang script once by EVAL, then runs it by EVALSHA of its original hash', async () => {
    const statsBefore = await commandCalls()
    const ratelimit = new Ratelimit({
      redis,
      limiter: Ratelimit.fixedWindow(10, '60 s'),
      prefix: 'tools-test:evalsha',
      ephemeralCache: false,
    })
    await ratelimit.limit('client')
    const statsLoaded = await commandCalls()
    for (let i = 0; i < 5; i++) await ratelimit.limit('client')
    const statsAfter = await commandCalls()
    // At most one EVAL loads the script (none if an earlier test already did); then only EVALSHA.
    expect(statsLoaded.eval - statsBefore.eval).toBeLessThanOrEqual(1)
    expect(statsAfter.eval - statsLoaded.eval).toBe(0)
    expect(statsAfter.evalsha - statsLoaded.evalsha).toBe(5)
    expect(statsAfter.evalshaFailed - statsLoaded.evalshaFailed).toBe(0)
  })

  it('recovers after SCRIPT FLUSH: one NOSCRIPT, one EVAL, then EVALSHA again', async () => {
    const ratelimit = new Ratelimit({
      redis,
      limiter: Ratelimit.slidingWindow(10, '60 s'),
      prefix: 'tools-test:flush',
      ephemeralCache: false,
    })
    await ratelimit.limit('client')
    await sendRespCommand(redisServer.host, redisServer.port, ['SCRIPT', 'FLUSH'])
    const before = await commandCalls()
    const results = [await ratelimit.limit('client'), await ratelimit.limit('client')]
    const after = await commandCalls()
    expect(results.map((r) => r.remaining)).toEqual([8, 7])
    expect(after.eval - before.eval).toBe(1)
    expect(after.evalsha - before.evalsha).toBe(2)
  })

  async function commandCalls() {
    const info = String(await sendRespCommand(redisServer.host, redisServer.port, ['INFO', 'commandstats']))
    const field = (command: string, name: string) =>
      Number(new RegExp(`cmdstat_${command}:.*?${name}=(\\d+)`).exec(info)?.[1] ?? 0)
    return {
      eval: field('eval', 'calls'),
      evalsha: field('evalsha', 'calls'),
      evalshaFailed: field('evalsha', 'failed_calls') + field('evalsha', 'rejected_calls'),
    }
  }
})
