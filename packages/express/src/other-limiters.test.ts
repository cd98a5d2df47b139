import { createServer } from 'node:http'
import { fixedWindow, memoryStore } from '@floodgate/core'
import { serveOnLoopback } from '@floodgate/core/testing'
import express5, { type Express as App } from 'express'
import { rateLimit as expressRateLimit } from 'express-rate-limit'
import express4 from 'express4'
import { describe, expect, it } from 'vitest'
import { type RateLimitOptions, rateLimit } from './index.js'

// A migration runs express-rate-limit and Floodgate side by side (Floodgate in shadow mode first).
// express-rate-limit puts its own object at `req.rateLimit` and writes the same header names: the
// client must still see the limit it meets first, and the app the object of the limiter that binds.
// Windows of a day on the process clock: a test's requests never straddle one's end but at midnight.

type Express = typeof express5

interface Seen {
  status: number
  policy: string | null
  legacyRemaining: string | null
  /** What the route read at `req.rateLimit`: express-rate-limit's has `used`, Floodgate's `allowed`. */
  exposed: string
}

async function run(app: App, count: number): Promise<Seen[]> {
  const server = await serveOnLoopback(createServer(app))
  const seen: Seen[] = []
  try {
    for (let i = 0; i < count; i++) {
      const response = await fetch(`${server.base}/`)
      seen.push({
        status: response.status,
        policy: response.headers.get('ratelimit-policy'),
        legacyRemaining: response.headers.get('x-ratelimit-remaining'),
        exposed: response.status === 200 ? await response.text() : '',
      })
    }
  } finally {
    await server.close()
  }
  return seen
}

function appWith(express: Express, peerLimit: number, floodgate: Partial<RateLimitOptions>): App {
  const app = express()
  app.use(
    expressRateLimit({
      windowMs: 86_400_000,
      limit: peerLimit,
      standardHeaders: 'draft-7',
      legacyHeaders: false,
    }),
  )
  app.use(
    rateLimit({ policies: fixedWindow({ limit: 3, window: '1 d' }), store: memoryStore(), ...floodgate }),
  )
  app.get('/', (req, res) => {
    const exposed = req.rateLimit as unknown as Record<string, unknown>
    res.send(
      'used' in exposed
        ? `peer, remaining ${exposed.remaining}`
        : `floodgate, remaining ${exposed.remaining}`,
    )
  })
  return app
}

const peer = (remaining: number): Seen => ({
  status: 200,
  policy: '2;w=86400',
  legacyRemaining: null,
  exposed: `peer, remaining ${remaining}`,
})

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as Express],
])('%s after express-rate-limit', (_name, express) => {
  it('in shadow mode leaves the peer its headers and req.rateLimit', async () => {
    const seen = await run(appWith(express, 2, { mode: 'shadow' }), 3)
    expect(seen.slice(0, 2)).toEqual([peer(1), peer(0)])
    expect(seen[2]).toMatchObject({ status: 429, policy: '2;w=86400' })
  })

  it('enforcing, leaves them to the peer while the peer binds first', async () => {
    const seen = await run(appWith(express, 2, {}), 2)
    expect(seen).toEqual([peer(1), peer(0)])
  })

  it('enforcing, takes over the headers and req.rateLimit when its own limit binds first', async () => {
    const seen = await run(appWith(express, 100, {}), 4)
    const floodgate = (remaining: number): Seen => ({
      status: 200,
      policy: '"fixed-window";q=3;w=86400',
      legacyRemaining: String(remaining),
      exposed: `floodgate, remaining ${remaining}`,
    })
    expect(seen.slice(0, 3)).toEqual([floodgate(2), floodgate(1), floodgate(0)])
    expect(seen[3]).toMatchObject({ status: 429, policy: '"fixed-window";q=3;w=86400', legacyRemaining: '0' })
  })
})

describe('after a limiter that exposes no decision (a header of its own, no req.rateLimit)', () => {
  it('enforcing, writes its headers over the same names and leaves the other names as they were', async () => {
    const app = express5()
    app.use((_req, res, next) => {
      res.set('X-RateLimit-Limit', '50')
      res.set('RateLimit-Policy', '50;w=60')
      next()
    })
    app.use(
      rateLimit({
        policies: fixedWindow({ limit: 3, window: '1 d' }),
        store: memoryStore(),
        headers: 'draft-8',
      }),
    )
    app.get('/', (_req, res) => {
      res.send('ok')
    })
    const server = await serveOnLoopback(createServer(app))
    try {
      const response = await fetch(`${server.base}/`)
      expect(response.status).toBe(200)
      expect(response.headers.get('ratelimit-policy')).toBe('"fixed-window";q=3;w=86400')
      expect(response.headers.get('ratelimit')).toMatch(/^"fixed-window";r=2;t=\d+$/)
      // Nothing says which binds first, so nothing of the other's is removed.
      expect(response.headers.get('x-ratelimit-limit')).toBe('50')
    } finally {
      await server.close()
    }
  })
})
