import { randomUUID } from 'node:crypto'
import {
  describeRedis,
  expectNoUnhandledRejections,
  type FaultProxy,
  startFaultProxy,
} from '@floodgate/tools'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { Decision } from '../decision.js'
import { ERROR_CODES, type FloodgateError } from '../errors.js'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { STALL_MS, WATCH_EVERY_MS } from '../redis/script-store.js'
import type { RateLimitStore } from '../store.js'
import { CLIENT_TIMEOUT_MS, connectClient, InFlightCounter, REDIS_LIBRARIES } from './redis-fault-harness.js'

// A partition (the proxy accepts and never answers) is the outage peers never test: quit() fails
// at once, a blackhole hangs. Every limit() must still answer by the store deadline plus 50 ms.

const TIMEOUT_MS = 250
const MARGIN_MS = 50
const LOAD_MS = 1_500
const RUN = randomUUID().slice(0, 8)

describeRedis('a blackholed Redis', (redisUrl) => {
  let proxy: FaultProxy
  expectNoUnhandledRejections()

  beforeAll(async () => {
    const { hostname, port } = new URL(redisUrl)
    proxy = await startFaultProxy({ target: { host: hostname, port: Number(port) } })
  })
  afterAll(async () => {
    await proxy?.stop()
  })
  beforeEach(() => {
    proxy.setMode('pass')
  })

  describe.each(REDIS_LIBRARIES)('through %s', (library) => {
    for (const onStoreError of ['allow', 'deny'] as const) {
      it(`answers every limit() within the deadline plus 50 ms with onStoreError '${onStoreError}', never has more store calls pending than requests waiting, lets the client's commands go, and recovers`, async () => {
        const client = await connectClient(library, proxy.url)
        const counter = new InFlightCounter()
        const limiter = createRateLimiter({
          policies: fixedWindow({ limit: 3, window: '1 h' }),
          store: counter.wrap(client.store),
          prefix: `blackhole-${RUN}-${library}-${onStoreError}`,
          timeout: TIMEOUT_MS,
          onStoreError,
          denyCache: false,
          logger: false,
        })
        try {
          expect((await counter.limit(limiter, 'warm')).decision.reason).toBe('allowed')
          proxy.setMode('blackhole')
          // Steady load: a request every 10 ms for 1.5 s, about 25 waiting at any moment.
          const started: Promise<{ decision: Decision; ms: number }>[] = []
          /**
           * Requests started before the store can have seen the silence (STALL_MS, judged every
           * WATCH_EVERY_MS) plus one client socket timeout, after which the client lets go.
           */
          let startedBeforeBound = -1
          let mostHeld = 0
          const loadStart = performance.now()
          while (performance.now() - loadStart < LOAD_MS) {
            started.push(counter.limit(limiter, `id-${started.length % 7}`))
            mostHeld = Math.max(mostHeld, client.heldCommands())
            if (
              startedBeforeBound < 0 &&
              performance.now() - loadStart > STALL_MS + WATCH_EVERY_MS + CLIENT_TIMEOUT_MS
            ) {
              startedBeforeBound = started.length
            }
            await new Promise((resolve) => setTimeout(resolve, 10))
          }
          const answers = await Promise.all(started)
          for (const { decision, ms } of answers) {
            expect(ms).toBeLessThanOrEqual(counter.lateBy(TIMEOUT_MS + MARGIN_MS))
            expect(decision).toMatchObject({ reason: 'store-error', allowed: onStoreError === 'allow' })
            expect([ERROR_CODES.STORE_TIMEOUT, ERROR_CODES.STORE_ERROR]).toContain(decision.error?.code)
          }
          // The first calls went out on a connection that looked healthy: they timed out.
          expect(answers[0]!.decision.error?.code).toBe(ERROR_CODES.STORE_TIMEOUT)
          // Every call settles by the client's command timeout (ioredis `commandTimeout`; for
          // node-redis, whose `commandOptions.timeout` stops at the socket, the store's reply timeout),
          // below the limiter's deadline: no call outlives its request.
          counter.expectNoCallOutlivedItsRequest(TIMEOUT_MS)
          // The commands themselves stay with the client until its socket closes. After STALL_MS of
          // silence the store writes nothing more, so even node-redis's idle timer (which steady
          // writes keep resetting) fires and the client lets go of them: what it holds is bounded.
          expect(mostHeld).toBeGreaterThan(0)
          expect(mostHeld).toBeLessThan(startedBeforeBound)

          proxy.setMode('pass')
          const deadline = performance.now() + 10_000
          let reason = (await counter.limit(limiter, 'after')).decision.reason
          while (reason === 'store-error' && performance.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 20))
            reason = (await counter.limit(limiter, 'after')).decision.reason
          }
          expect(reason).toBe('allowed')
          expect(counter.pendingStoreCalls).toBe(0)
          expect(client.heldCommands()).toBe(0)
          expect(counter.maxPendingStoreCalls).toBeGreaterThan(0)
        } finally {
          counter.stop()
          await limiter.close()
          await client.close()
        }
      })
    }

    // An app may reset an identifier on every request of some kind (a successful login). A DEL
    // written to a silent connection keeps a socket timeout that runs from the last write
    // (node-redis's) from firing, so the client held every command for as long as resets came,
    // and each reset's keys on top.
    it('refuses reset() once Redis is taken for silent, so a stream of resets neither piles up nor keeps the client from letting go', async () => {
      const client = await connectClient(library, proxy.url)
      const store = client.store as RateLimitStore & { readonly commandsHeld: number }
      const pendingResets = () => (Reflect.get(store, 'pendingResets') as Map<string, unknown>).size
      const limiter = createRateLimiter({
        policies: fixedWindow({ limit: 3, window: '1 h' }),
        store,
        prefix: `blackhole-${RUN}-${library}-resets`,
        timeout: TIMEOUT_MS,
        denyCache: false,
        logger: false,
      })
      try {
        expect((await limiter.limit('warm')).reason).toBe('allowed')
        proxy.setMode('blackhole')
        // The load of the test above, with a reset every fifth request, for five client socket
        // timeouts past it: the store has long taken Redis for silent by then.
        const decided: Promise<Decision>[] = []
        const resets: Promise<unknown>[] = []
        const loadStart = performance.now()
        while (performance.now() - loadStart < LOAD_MS + 5 * CLIENT_TIMEOUT_MS) {
          decided.push(limiter.limit(`id-${decided.length % 7}`))
          if (decided.length % 5 === 0) {
            resets.push(
              limiter.reset(`reset-${resets.length}`).then(
                () => 'reset',
                (error: FloodgateError) => error.code,
              ),
            )
          }
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
        // While they still come, the client has let go of every command, and no reset waits on one.
        expect(store.commandsHeld).toBe(0)
        expect(pendingResets()).toBe(0)
        for (const code of new Set(await Promise.all(resets))) {
          expect([ERROR_CODES.STORE_ERROR, ERROR_CODES.STORE_TIMEOUT]).toContain(code)
        }
        for (const decision of await Promise.all(decided)) expect(decision.reason).toBe('store-error')
      } finally {
        proxy.setMode('pass')
        await limiter.close()
        await client.close()
      }
    })
  })
})
