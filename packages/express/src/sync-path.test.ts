import { createServer } from 'node:http'
import { fixedWindow, memoryStore } from '@floodgate/core'
import { serveOnLoopback } from '@floodgate/core/testing'
import express5 from 'express'
import express4 from 'express4'
import { describe, expect, it } from 'vitest'
import { rateLimit } from './index.js'

// On the memory store the middleware decides and calls next() in the same call: a request it
// admits waits on no promise. A middleware mounted before it sees the route run inside its next().

/** A store whose clock stands at the start of a minute: the denial's Retry-After is exactly 60. */
const atWindowStart = () => memoryStore({ clock: () => 1_700_000_040_000 })

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express5],
])('%s on the memory store', (_name, express) => {
  it('reaches the route within the calling middleware’s next(), and answers 429 the same way', async () => {
    const app = express()
    let inside = false
    const seen: boolean[] = []
    app.use((_req, _res, next) => {
      inside = true
      next()
      inside = false
    })
    app.use(
      rateLimit({
        policies: fixedWindow({ limit: 1, window: '1 m' }),
        store: atWindowStart(),
        logger: false,
      }),
    )
    app.get('/', (_req, res) => {
      seen.push(inside)
      res.send('ok')
    })
    const server = await serveOnLoopback(createServer(app))
    try {
      expect((await fetch(`${server.base}/`)).status).toBe(200)
      const limited = await fetch(`${server.base}/`)
      expect(limited.status).toBe(429)
      expect(limited.headers.get('retry-after')).toBe('60')
      expect(seen).toEqual([true])
    } finally {
      await server.close()
    }
  })
})
