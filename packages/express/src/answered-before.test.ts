import { createServer } from 'node:http'
import {
  createRateLimiter,
  fixedWindow,
  memoryStore,
  type RateLimiter,
  type RateLimitStore,
} from '@floodgate/core'
import { collectProcessErrors, manualClock, serveOnLoopback } from '@floodgate/core/testing'
import express5, { type ErrorRequestHandler } from 'express'
import express4 from 'express4'
import { describe, expect, it } from 'vitest'
import { type RateLimitOptions, rateLimit } from './index.js'

// A middleware before the limiter may answer and still call next(). The limiter must then leave the
// response alone on every path (pass, 429, 503, sync or async) and never throw where Express 4
// cannot catch it: an unhandled rejection there takes the process down.

/** A remote store that fails on every call, as an unreachable Redis would. */
const failingStore = (): RateLimitStore => ({
  name: 'failing',
  local: false,
  consume: () => Promise.reject(new Error('connection refused')),
  reset: () => undefined,
  close: () => undefined,
})

const policies = fixedWindow({ limit: 1, window: '1 m' })
// Options made for each test: a store shared by the Express 5 and 4 runs would leave the second
// one only denials to see. A still clock: no window's end between a test's requests.
const still = () => memoryStore({ clock: manualClock(1_800_000_000_000) })
const cases: [string, () => RateLimitOptions][] = [
  ['memory store, admitted then denied', () => ({ policies, store: still(), logger: false })],
  [
    "failing store, onStoreError 'deny'",
    () => ({ policies, store: failingStore(), onStoreError: 'deny', logger: false }),
  ],
  ["failing store, onStoreError 'allow'", () => ({ policies, store: failingStore(), logger: false })],
  ['an async key callback', () => ({ policies, store: still(), key: async () => 'one', logger: false })],
  [
    'an onLimited that answers',
    () => ({
      policies,
      store: still(),
      logger: false,
      onLimited: (_req, res) => res.status(429).json({ custom: true }),
    }),
  ],
]

const unhandled = collectProcessErrors()

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express5],
])('%s: a response sent before the limiter', (_name, express) => {
  it.each(cases)('is left alone, with no error and no unhandled rejection: %s', async (_case, options) => {
    const app = express()
    const errors: unknown[] = []
    app.use((_req, res, next) => {
      res.end('early')
      next()
    })
    app.use(rateLimit(options()))
    app.get('/', (_req, res) => {
      if (!res.headersSent) res.send('route')
    })
    const onError: ErrorRequestHandler = (error, _req, _res, next) => {
      errors.push(error)
      next()
    }
    app.use(onError)
    const server = await serveOnLoopback(createServer(app))
    try {
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`${server.base}/`)
        expect(response.status).toBe(200)
        expect(await response.text()).toBe('early')
        expect(response.headers.get('x-ratelimit-limit')).toBeNull()
      }
      // Any late rejection surfaces within a few turns of the event loop.
      await new Promise((resolve) => setImmediate(resolve))
      expect(errors).toEqual([])
      expect(unhandled()).toEqual([])
    } finally {
      await server.close()
    }
  })
})

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express5],
])('%s: a custom limiter whose decision no header field can carry', (_name, express) => {
  it('reaches the error path, with no unhandled rejection and no request left hanging', async () => {
    const real = createRateLimiter({ policies, logger: false })
    // A limit Node refuses in a field value: setHeader throws, after the limiter's promise settled.
    const limiter: RateLimiter = {
      config: real.config,
      warnings: real.warnings,
      limit: async (id, options) => {
        const decision = await real.limit(id, options)
        const limit = '1\r\nx-injected: 1' as unknown as number
        return { ...decision, policies: decision.policies.map((p) => ({ ...p, limit })) }
      },
      peek: (id, options) => real.peek(id, options),
      reset: (id) => real.reset(id),
      close: () => real.close(),
    }
    const app = express()
    const errors: unknown[] = []
    app.use(rateLimit({ limiter }))
    app.get('/', (_req, res) => void res.send('route'))
    const onError: ErrorRequestHandler = (error, _req, res, _next) => {
      errors.push(error)
      res.status(500).end()
    }
    app.use(onError)
    const server = await serveOnLoopback(createServer(app))
    try {
      const response = await fetch(`${server.base}/`, { signal: AbortSignal.timeout(5_000) })
      expect(response.status).toBe(500)
      expect(response.headers.get('x-injected')).toBeNull()
      await new Promise((resolve) => setImmediate(resolve))
      expect(errors).toHaveLength(1)
      expect(errors[0]).toMatchObject({ code: 'ERR_INVALID_CHAR' })
      expect(unhandled()).toEqual([])
    } finally {
      await server.close()
    }
  })
})

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express5],
])('%s: a response begun before the limiter and not ended', (_name, express) => {
  // A middleware that writes the head (and a first chunk) of a streamed answer and then calls next():
  // a denial cannot be answered any more, but the request must not be left open for ever either.
  it.each(cases.filter(([name]) => !name.includes("'allow'")))(
    'is cut off when denied, the route never running: %s',
    async (_case, options) => {
      const app = express()
      let routed = 0
      app.use((_req, res, next) => {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.write('early ')
        next()
      })
      app.use(rateLimit(options()))
      app.get('/', (_req, res) => {
        routed++
        res.end('route')
      })
      const server = await serveOnLoopback(createServer(app))
      try {
        // The body, or how reading it failed: cut off (undici's TypeError, "fetch failed" when
        // the head had not left yet, else "terminated"), or held open until the client gave up.
        const answer = async () => {
          try {
            const response = await fetch(`${server.base}/`, { signal: AbortSignal.timeout(5_000) })
            return await response.text()
          } catch (error) {
            return (error as Error).name === 'TypeError' ? 'cut off' : String(error)
          }
        }
        const bodies = [await answer(), await answer()]
        // The failing store's 'deny' denies the first request too; the memory store the second.
        const denied = routed === 0 ? bodies : bodies.slice(1)
        expect(routed).toBe(2 - denied.length)
        expect(denied).toEqual(denied.map(() => 'cut off'))
        if (routed === 1) expect(bodies[0]).toBe('early route')
        await new Promise((resolve) => setImmediate(resolve))
        expect(unhandled()).toEqual([])
      } finally {
        await server.close()
      }
    },
  )
})
