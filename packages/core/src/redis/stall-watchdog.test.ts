import { describeRedis } from '@floodgate/tools'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { redisStore } from './redis-store.js'

// The stall bound (STALL_MS, 1 s) must fail calls only when Redis is silent, never when this
// process was too busy to read replies that had already arrived. The blackholed-Redis side is in
// reliability/redis-blackhole.test.ts; this is the busy-process side. The busy spell is real CPU
// time on purpose: what is under test is the event loop's order (timers, then I/O, then
// setImmediate), which fake timers would replace.

function busyFor(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) {
    // Spin: the event loop cannot poll sockets meanwhile, as under a long synchronous burst.
  }
}

describeRedis('the stall watchdog', (redisUrl) => {
  let client: Redis

  beforeAll(async () => {
    client = new Redis(redisUrl, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      lazyConnect: true,
    })
    await client.connect()
  })

  afterAll(async () => {
    await client.quit()
  })

  it('does not fail calls whose replies arrived while the process was busy for longer than the stall bound', async () => {
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 1_000, window: '1 h' }),
      store: redisStore({ client, logger: false }),
      prefix: `stall-${process.pid}-${Date.now()}`,
      timeout: '30 s',
      denyCache: false,
      logger: false,
    })
    const first = Array.from({ length: 200 }, (_, i) => limiter.limit(`busy-${i % 7}`))
    busyFor(1_300)
    // Sent after the busy spell, before the loop has read the first calls' replies.
    const second = Array.from({ length: 200 }, (_, i) => limiter.limit(`busy-${i % 7}`))
    const decisions = await Promise.all([...first, ...second])
    expect(decisions.filter((d) => d.reason === 'store-error').map((d) => d.error?.message)).toEqual([])
    expect(decisions.every((d) => d.allowed)).toBe(true)
    await limiter.close()
  })
})
