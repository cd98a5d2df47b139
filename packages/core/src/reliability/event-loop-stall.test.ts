import { randomUUID } from 'node:crypto'
import { createServer, type Socket, connect as tcpConnect } from 'node:net'
import { describeRedisServer, type RedisServer, startRedisServer } from '@floodgate/tools'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { redisStore } from '../redis/redis-store.js'
import type { RateLimitStore, StoreResponse } from '../store.js'

// A stall of the app's event loop (a long synchronous task, a major garbage collection) longer
// than the limiter's `timeout`, while decisions are in flight whose answers are already waiting in
// their sockets. Node runs due timers before it reads sockets, so a deadline judged in its timer
// failed every one of them. The stall is the thing tested here, not a wait.

const TIMEOUT_MS = 100
const STALL_MS = 400
const RUN = randomUUID().slice(0, 8)

function stall(): void {
  const until = performance.now() + STALL_MS
  while (performance.now() < until) {
    // Nothing else runs meanwhile.
  }
}

const policies = fixedWindow({ limit: 100, window: '1 h' })
// The Redis store's clock stands still at an hour boundary: the test counts across the stall and
// round trips (half a second or more), and on Redis's own clock an hour's end could fall in them
// and change the count peeked. The stall and the deadlines run on real time whatever the clock.
const CLOCK_MS = 500_000 * 3_600_000

/**
 * A loopback TCP connection: what `far` writes waits in `client`'s socket until the loop reads it,
 * as a store's answer written before a stall does.
 */
async function loopback(): Promise<{ client: Socket; far: Socket; close: () => Promise<void> }> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve))
  const client = tcpConnect(port, '127.0.0.1')
  const far = await accepted
  const close = async () => {
    client.destroy()
    far.destroy()
    await new Promise((resolve) => server.close(resolve))
  }
  return { client, far, close }
}

describe('a decision in flight across a stall of the event loop longer than the timeout', () => {
  it('is answered by the reply that came back in time, not as a timeout (a store of its own)', async () => {
    // The store's answer comes over a loopback TCP connection: written before the stall, it waits
    // in the socket until the loop reads it.
    const { client, far, close } = await loopback()
    const ok = { allowed: true, remaining: 99, resetAtMs: 0, retryAfterMs: 0 }
    const store: RateLimitStore = {
      name: 'tcp',
      local: false,
      consume: () =>
        new Promise<StoreResponse>((resolve) => {
          client.once('data', () => resolve({ nowMs: Date.now(), outcomes: [ok] }))
        }),
      reset: () => {},
      close: () => {},
    }
    const limiter = createRateLimiter({ policies, store, timeout: TIMEOUT_MS, logger: false })
    try {
      const decision = limiter.limit('a')
      far.write('answer')
      stall()
      expect((await decision).reason).toBe('allowed')
    } finally {
      await close()
    }
  })

  it('a reset is answered by the reply that came back in time, not as a timeout (a store of its own)', async () => {
    const { client, far, close } = await loopback()
    const store: RateLimitStore = {
      name: 'tcp',
      local: false,
      consume: () => Promise.reject(new Error('not called')),
      reset: () =>
        new Promise<void>((resolve) => {
          client.once('data', () => resolve())
        }),
      close: () => {},
    }
    const limiter = createRateLimiter({ policies, store, timeout: TIMEOUT_MS, logger: false })
    try {
      const reset = limiter.reset('a')
      far.write('done')
      stall()
      await expect(reset).resolves.toBeUndefined()
    } finally {
      await close()
    }
  })
})

describeRedisServer(
  'Redis decisions in flight across a stall of the event loop longer than the timeout',
  () => {
    let server: RedisServer
    beforeAll(async () => {
      server = await startRedisServer()
    })
    afterAll(async () => {
      await server?.stop()
    })

    it('ioredis: are answered by the replies that came back in time, not as timeouts', async () => {
      // No client timeouts: the limiter's alone (a client's own, such as ioredis `commandTimeout`,
      // is judged in its timer: docs/stores.md says so).
      const client = new Redis(server.url, {
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
      })
      await new Promise((resolve) => client.once('ready', resolve))
      const limiter = createRateLimiter({
        policies,
        store: redisStore({ client, clock: () => CLOCK_MS, logger: false }),
        prefix: `stall-${RUN}`,
        timeout: TIMEOUT_MS,
        denyCache: false,
        logger: false,
      })
      try {
        expect((await limiter.limit('warm-up')).reason).toBe('allowed')
        const inFlight = [limiter.limit('a'), limiter.limit('b')]
        // The batch is written from a promise job, before this immediate; Redis answers meanwhile.
        await new Promise((resolve) => setImmediate(resolve))
        stall()
        expect((await Promise.all(inFlight)).map((d) => d.reason)).toEqual(['allowed', 'allowed'])
        expect((await limiter.peek('a')).remaining).toBe(98)
      } finally {
        await limiter.close()
        client.disconnect()
      }
    })
  },
)
