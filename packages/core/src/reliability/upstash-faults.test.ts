import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describeRedis, expectNoUnhandledRejections, watchEventLoopLag } from '@floodgate/tools'
import { Redis as UpstashRedis } from '@upstash/redis'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../errors.js'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { STALL_MS } from '../redis/script-store.js'
import { upstashStore } from '../upstash/upstash-store.js'

// A REST server that fails the way a bad day at a hosted Redis does, in front of the real
// @upstash/redis client (retry off, as docs/stores.md says): each failure becomes a store-error
// decision within the deadline, nothing rejects unhandled, and no request is sent twice.

const TIMEOUT_MS = 250
const MARGIN_MS = 50
const RUN = randomUUID().slice(0, 8)

type Fault = '500' | '401' | 'malformed JSON' | 'hang' | 'reset connection'
const FAULTS: Fault[] = ['500', '401', 'malformed JSON', 'hang', 'reset connection']

function answer(fault: Fault, req: IncomingMessage, res: ServerResponse): void {
  if (fault === '500') res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal"}')
  else if (fault === '401')
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"Unauthorized"}')
  else if (fault === 'malformed JSON')
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":[1,')
  else if (fault === 'reset connection') req.socket.resetAndDestroy()
  // 'hang': never answer (the socket is closed when the server stops).
}

describeRedis('upstashStore in front of a failing REST server', () => {
  let server: Server
  let url: string
  let fault: Fault = '500'
  const requests = { count: 0 }
  expectNoUnhandledRejections()

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.count++
      req.resume()
      req.on('end', () => answer(fault, req, res))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  beforeEach(() => {
    requests.count = 0
  })

  describe.each(FAULTS)('answering %s', (current) => {
    for (const onStoreError of ['allow', 'deny'] as const) {
      it(`gives store-error decisions within the deadline plus 50 ms with onStoreError '${onStoreError}', never more than one HTTP request each`, async () => {
        fault = current
        const redis = new UpstashRedis({ url, token: 'token', retry: { retries: 0 }, enableTelemetry: false })
        const limiter = createRateLimiter({
          policies: fixedWindow({ limit: 5, window: '1 h' }),
          store: upstashStore({ redis, logger: false }),
          prefix: `upstash-faults-${RUN}`,
          timeout: TIMEOUT_MS,
          onStoreError,
          denyCache: false,
          logger: false,
        })
        // A deadline is a timer: on a loaded machine it answers late by as much as the loop ran late.
        const lag = watchEventLoopLag()
        try {
          const codes: string[] = []
          // Enough for the stall bound to be met with the calls spaced by TIMEOUT_MS.
          const CALLS = 8
          for (let i = 0; i < CALLS; i++) {
            const start = performance.now()
            const decision = await limiter.limit(`id-${i}`)
            const ms = performance.now() - start
            expect(ms).toBeLessThanOrEqual(TIMEOUT_MS + MARGIN_MS + lag.worstMs())
            expect(decision).toMatchObject({ reason: 'store-error', allowed: onStoreError === 'allow' })
            codes.push(decision.error!.code)
          }
          if (current === 'hang') {
            // Timeouts until nothing has come back for STALL_MS since the second request went out
            // (Upstash's requests are independent: one lost alone is no silence; judged by the
            // store's watchdog, which looks every STALL_MS / 10); from then on it sends nothing.
            const timeouts = codes.filter((c) => c === ERROR_CODES.STORE_TIMEOUT).length
            expect(timeouts).toBeGreaterThanOrEqual(1 + Math.ceil(STALL_MS / TIMEOUT_MS))
            expect(codes).toEqual([
              ...Array<string>(timeouts).fill(ERROR_CODES.STORE_TIMEOUT),
              ...Array<string>(CALLS - timeouts).fill(ERROR_CODES.STORE_ERROR),
            ])
            expect(timeouts).toBeLessThan(CALLS)
            // Each timed-out call sent one request; a call refused by the stall bound sent none.
            expect(requests.count).toBe(timeouts)
          } else {
            expect(codes).toEqual(Array<string>(CALLS).fill(ERROR_CODES.STORE_ERROR))
            // No automatic retry: exactly one request reached the server per decision.
            expect(requests.count).toBe(CALLS)
          }
        } finally {
          lag.stop()
          await limiter.close()
        }
      })
    }
  })
})
