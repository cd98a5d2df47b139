import { randomUUID } from 'node:crypto'
import {
  describeRedis,
  expectNoUnhandledRejections,
  type FaultProxy,
  startFaultProxy,
} from '@floodgate/tools'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../errors.js'
import { createRateLimiter, type RateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { counterKeys } from '../redis/keys.js'
import { connectClient, type FaultClient, InFlightCounter, REDIS_LIBRARIES } from './redis-fault-harness.js'

// Refused connections, replies slower than the deadline, and a reply lost after Redis ran the
// script, through clients set up as docs/stores.md says.

const TIMEOUT_MS = 250
const MARGIN_MS = 50
const RUN = randomUUID().slice(0, 8)
// A clock that stands still at an hour boundary, for a test that reads counts back after a lost
// reply and a reconnection (up to seconds): on Redis's own clock an hour's end could fall between.
const CLOCK_MS = 500_000 * 3_600_000

/** Bounded wait for the client to reconnect by itself after the proxy passes again. */
async function untilAllowed(counter: InFlightCounter, limiter: RateLimiter, id: string): Promise<string> {
  const deadline = performance.now() + 10_000
  let reason = (await counter.limit(limiter, id)).decision.reason
  while (reason === 'store-error' && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    reason = (await counter.limit(limiter, id)).decision.reason
  }
  return reason
}

describeRedis('Redis faults through a proxy', (redisUrl) => {
  let proxy: FaultProxy
  let client: FaultClient
  let counter: InFlightCounter
  let limiter: RateLimiter
  let admin: Redis
  expectNoUnhandledRejections()

  beforeAll(async () => {
    const { hostname, port } = new URL(redisUrl)
    proxy = await startFaultProxy({ target: { host: hostname, port: Number(port) } })
    admin = new Redis(redisUrl)
  })
  afterAll(async () => {
    await proxy?.stop()
    admin?.disconnect()
  })
  beforeEach(() => {
    proxy.setMode('pass')
  })
  afterEach(async () => {
    counter?.stop()
    await limiter?.close()
    await client?.close()
  })

  describe.each(REDIS_LIBRARIES)('through %s', (library) => {
    const setUp = async (name: string, clock?: () => number) => {
      client = await connectClient(library, proxy.url, clock)
      counter = new InFlightCounter()
      limiter = createRateLimiter({
        policies: fixedWindow({ limit: 5, window: '1 h' }),
        store: counter.wrap(client.store),
        prefix: `faults-${RUN}-${library}-${name}`,
        timeout: TIMEOUT_MS,
        onStoreError: 'deny',
        denyCache: false,
        logger: false,
      })
      expect((await counter.limit(limiter, 'warm')).decision.reason).toBe('allowed')
    }

    it('fails fast while connections are refused, then recovers', async () => {
      await setUp('refuse')
      proxy.setMode('refuse')
      proxy.dropConnections()
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => counter.limit(limiter, `r-${i}`)),
      )
      for (const { decision, ms } of answers) {
        expect(decision).toMatchObject({ reason: 'store-error', allowed: false })
        expect(decision.error?.code).toBe(ERROR_CODES.STORE_ERROR)
        expect(ms).toBeLessThan(TIMEOUT_MS) // refused, not waited for
      }
      expect(counter.worstExcess).toBe(0)
      proxy.setMode('pass')
      expect(await untilAllowed(counter, limiter, 'after')).toBe('allowed')
      expect(counter.pendingStoreCalls).toBe(0)
    })

    it('answers replies delayed beyond the deadline as timeouts within the deadline plus 50 ms, then recovers', async () => {
      await setUp('delay')
      proxy.setMode('delay', { delayMs: 600 })
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => counter.limit(limiter, `d-${i}`)),
      )
      for (const { decision, ms } of answers) {
        expect(ms).toBeLessThanOrEqual(counter.lateBy(TIMEOUT_MS + MARGIN_MS))
        expect(decision).toMatchObject({ reason: 'store-error', allowed: false })
        expect(decision.error?.code).toBe(ERROR_CODES.STORE_TIMEOUT)
      }
      // The client's command timeout (the store's reply timeout on node-redis) settled every call
      // before its request's deadline; the replies that came later were ignored.
      counter.expectNoCallOutlivedItsRequest(TIMEOUT_MS)
      proxy.setMode('pass')
      expect(await untilAllowed(counter, limiter, 'after')).toBe('allowed')
      expect(counter.pendingStoreCalls).toBe(0)
    })

    it('counts a request whose reply was lost after Redis ran the script exactly once', async () => {
      await setUp('drop', () => CLOCK_MS)
      expect((await counter.limit(limiter, 'victim')).decision.remaining).toBe(4)
      proxy.dropNextReply()
      const lost = await counter.limit(limiter, 'victim')
      expect(lost.decision).toMatchObject({ reason: 'store-error', allowed: false })
      expect(lost.ms).toBeLessThanOrEqual(counter.lateBy(TIMEOUT_MS + MARGIN_MS))
      expect(await untilAllowed(counter, limiter, 'after-drop')).toBe('allowed')
      // Two requests reached Redis: the window holds exactly 2 units (a re-send would make it 3),
      // and a peek (remaining as if charged once more) agrees.
      const [key] = counterKeys(limiter.config.prefix, 'victim', [limiter.config.allPolicies[0]!])
      // A fixed window's counter is a hash of window index → units used; one window here.
      expect(Object.values(await admin.hgetall(key!))).toEqual(['2'])
      expect(await limiter.peek('victim')).toMatchObject({ reason: 'allowed', remaining: 2 })
      expect(counter.pendingStoreCalls).toBe(0)
    })
  })
})
