import { randomUUID } from 'node:crypto'
import {
  describeRedisServer,
  expectNoUnhandledRejections,
  type RedisServer,
  startRedisServer,
  startUpstashServer,
  type UpstashServer,
} from '@floodgate/tools'
import { Redis as UpstashRedis } from '@upstash/redis'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Decision } from '../decision.js'
import { createRateLimiter, type RateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import type { RateLimitStore } from '../store.js'
import { upstashStore } from '../upstash/upstash-store.js'
import { redisStore } from './redis-store.js'

// Redis stopped under load, then restarted empty (script cache included): every call answers
// within the limiter's deadline plus a margin for a loaded test machine, as onStoreError says,
// nothing rejects, and limiting resumes by itself.

const TIMEOUT_MS = 250
/** Scheduling slack on a shared 2-core machine; the deadline itself is what is being tested. */
const MARGIN_MS = 750
const RUN = randomUUID().slice(0, 8)
// The stores' clock stands still at an hour boundary: on the server's clock an hour's end among
// the requests counted after the restart would admit the 6th. The deadlines, reconnects and
// script reloads under test run on real time whatever the clock.
const CLOCK_MS = 500_000 * 3_600_000
const clock = () => CLOCK_MS

interface Harness {
  store: RateLimitStore
  close(): Promise<void>
}

type Library = 'ioredis' | 'node-redis' | 'upstash'

async function harness(library: Library, server: RedisServer, upstash: UpstashServer): Promise<Harness> {
  if (library === 'ioredis') {
    const client = new Redis(server.url, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(attempt * 20, 200),
    })
    client.on('error', () => undefined)
    await new Promise((resolve) => client.once('ready', resolve))
    return { store: redisStore({ client, clock }), close: async () => client.disconnect() }
  }
  if (library === 'node-redis') {
    const client = createClient({
      url: server.url,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: (attempt) => Math.min(attempt * 20, 200) },
    })
    client.on('error', () => undefined)
    await client.connect()
    return { store: redisStore({ client, clock }), close: async () => void client.destroy() }
  }
  const redis = new UpstashRedis({
    url: upstash.url,
    token: upstash.token,
    retry: { retries: 0 },
    enableTelemetry: false,
  })
  return { store: upstashStore({ redis, clock }), close: async () => undefined }
}

/** limit(id) again every 50 ms until it is not a store error, for at most 10 s: the last decision. */
async function answering(limiter: RateLimiter, id = 'warm-up'): Promise<Decision> {
  const deadline = Date.now() + 10_000
  let decision = await limiter.limit(id)
  while (decision.reason === 'store-error' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    decision = await limiter.limit(id)
  }
  return decision
}

async function timed(work: Promise<Decision>): Promise<{ decision: Decision; ms: number }> {
  const start = performance.now()
  const decision = await work
  return { decision, ms: performance.now() - start }
}

describeRedisServer('a remote store while Redis is away', () => {
  let server: RedisServer
  let upstash: UpstashServer
  expectNoUnhandledRejections()

  beforeAll(async () => {
    server = await startRedisServer()
    upstash = await startUpstashServer({ redisUrl: server.url })
  })
  afterAll(async () => {
    await upstash?.stop()
    await server?.stop()
  })

  describe.each(['ioredis', 'node-redis', 'upstash'] as const)('through %s', (library) => {
    for (const onStoreError of ['allow', 'deny'] as const) {
      it(`answers every call within the deadline with onStoreError '${onStoreError}', then resumes after a restart that emptied Redis`, async () => {
        const h = await harness(library, server, upstash)
        const limiter = createRateLimiter({
          policies: fixedWindow({ limit: 5, window: '1 h' }),
          store: h.store,
          prefix: `outage-${RUN}-${library}-${onStoreError}`,
          timeout: TIMEOUT_MS,
          onStoreError,
          logger: false,
        })
        try {
          // An earlier test restarted Redis: the Upstash server's own connection may still be
          // coming back. A bounded wait for the store to answer at all, then the baseline.
          await answering(limiter)
          expect((await limiter.limit('before')).reason).toBe('allowed')
          // Calls in flight while Redis goes away, and calls made while it is gone.
          const inFlight = Array.from({ length: 50 }, (_, i) => timed(limiter.limit(`load-${i}`)))
          await server.stop()
          const during = await Promise.all(
            Array.from({ length: 100 }, (_, i) => timed(limiter.limit(`down-${i}`))),
          )
          const answered = [...(await Promise.all(inFlight)), ...during]
          for (const { decision, ms } of answered) {
            expect(ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS)
            if (decision.reason === 'store-error') {
              expect(decision.allowed).toBe(onStoreError === 'allow')
              expect(decision.policies).toEqual([])
            }
          }
          expect(during.every(({ decision }) => decision.reason === 'store-error')).toBe(true)

          await server.restart()
          // A bounded wait for the client to reconnect on its own.
          const d = await answering(limiter, 'after')
          const reasons = [d.reason]
          for (let i = 0; i < 6; i++) reasons.push((await limiter.limit('after')).reason)
          expect(reasons).toEqual([
            'allowed',
            'allowed',
            'allowed',
            'allowed',
            'allowed',
            'limited',
            'limited',
          ])
        } finally {
          await limiter.close()
          await h.close()
        }
      }, 30_000)
    }
  })
})
