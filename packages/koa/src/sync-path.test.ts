import { createServer } from 'node:http'
import { clientIpKey, fixedWindow, memoryStore } from '@floodgate/core'
import { serveOnLoopback } from '@floodgate/core/testing'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import { describe, expect, it } from 'vitest'
import { rateLimit } from './index.js'

// On the memory store the middleware decides and calls next() in the same call: a request it
// admits waits on no promise of Floodgate's. A middleware before it sees the route run inside its
// next().

/** A store whose clock stands at the start of a minute: the denial's Retry-After is exactly 60. */
const atWindowStart = () => memoryStore({ clock: () => 1_700_000_040_000 })

describe.each([
  ['koa 3', Koa3],
  ['koa 2', Koa2 as unknown as typeof Koa3],
])('%s on the memory store', (_name, Koa) => {
  it('reaches the route within the calling middleware’s next(), and answers 429 the same way', async () => {
    const app = new Koa()
    let inside = false
    const seen: boolean[] = []
    app.use((_ctx, next) => {
      inside = true
      const rest = next()
      inside = false
      return rest
    })
    app.use(
      rateLimit({
        policies: fixedWindow({ limit: 1, window: '1 m' }),
        store: atWindowStart(),
        logger: false,
      }),
    )
    app.use((ctx) => {
      seen.push(inside)
      ctx.body = 'ok'
    })
    const server = await serveOnLoopback(createServer(app.callback()))
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

  it('carries its limiter, whose reset() of the client’s key lets the client in again', async () => {
    const app = new Koa()
    const limited = rateLimit({
      policies: fixedWindow({ limit: 1, window: '1 m' }),
      store: atWindowStart(),
      logger: false,
    })
    app.use(limited)
    app.use((ctx) => {
      ctx.body = 'ok'
    })
    const server = await serveOnLoopback(createServer(app.callback()))
    try {
      expect((await fetch(`${server.base}/`)).status).toBe(200)
      expect((await fetch(`${server.base}/`)).status).toBe(429)
      expect((await limited.limiter.peek(clientIpKey('127.0.0.1')!)).remaining).toBe(0)
      await limited.limiter.reset(clientIpKey('127.0.0.1')!)
      expect((await fetch(`${server.base}/`)).status).toBe(200)
    } finally {
      await server.close()
      await limited.limiter.close()
    }
  })
})
