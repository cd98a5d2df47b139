import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { serveOnLoopback } from '@floodgate/core/testing'
import { fromUpstash } from '@floodgate/core/upstash'
import { describeRedis, useUpstashServer } from '@floodgate/tools'
import { Ratelimit } from '@upstash/ratelimit'
import express from 'express'
import { afterEach, beforeEach, expect, it, vi } from 'vitest'
import { rateLimit } from './index.js'

// @upstash/ratelimit reads Date.now(); a fixed fake date keeps every request inside one window.
const NOW_MS = Date.UTC(2031, 0, 1, 12, 0, 30)
const RUN = randomUUID().slice(0, 8)

describeRedis('rateLimit({ limiter: fromUpstash({ free, pro }) }) on express', (redisUrl) => {
  const upstash = useUpstashServer(redisUrl)

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'], now: NOW_MS })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it("limits each client at its plan's Ratelimit, with that tier's limit in the headers", async () => {
    // One prefix and one window, as docs/stores.md asks of the tiers' Ratelimits.
    const prefix = `express-tiers-${RUN}`
    const free = new Ratelimit({ redis: upstash.redis, limiter: Ratelimit.fixedWindow(2, '60 s'), prefix })
    const pro = new Ratelimit({ redis: upstash.redis, limiter: Ratelimit.fixedWindow(4, '60 s'), prefix })
    const app = express()
    app.use(
      rateLimit({
        limiter: fromUpstash({ free, pro }, { defaultTier: 'free', window: '60 s', timeout: '5 s' }),
        key: (req) => req.get('x-user') ?? '',
        tier: (req) => req.get('x-plan'),
      }),
    )
    app.get('/', (_req, res) => {
      res.send('ok')
    })
    const server = await serveOnLoopback(createServer(app))
    const requests = async (user: string, plan: string, count: number) => {
      const seen = []
      for (let i = 0; i < count; i++) {
        const response = await fetch(`${server.base}/`, { headers: { 'x-user': user, 'x-plan': plan } })
        await response.text()
        seen.push([
          response.status,
          response.headers.get('ratelimit-policy'),
          response.headers.get('ratelimit'),
        ])
      }
      return seen
    }
    try {
      expect(await requests('alice', 'free', 3)).toEqual([
        [200, '"upstash";q=2;w=60', '"upstash";r=1;t=30'],
        [200, '"upstash";q=2;w=60', '"upstash";r=0;t=30'],
        [429, '"upstash";q=2;w=60', '"upstash";r=0;t=30'],
      ])
      expect(await requests('bob', 'pro', 5)).toEqual([
        [200, '"upstash";q=4;w=60', '"upstash";r=3;t=30'],
        [200, '"upstash";q=4;w=60', '"upstash";r=2;t=30'],
        [200, '"upstash";q=4;w=60', '"upstash";r=1;t=30'],
        [200, '"upstash";q=4;w=60', '"upstash";r=0;t=30'],
        [429, '"upstash";q=4;w=60', '"upstash";r=0;t=30'],
      ])
    } finally {
      await server.close()
    }
  })
})
