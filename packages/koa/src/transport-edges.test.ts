import { createServer } from 'node:http'
import { createServer as createHttp2Server } from 'node:http2'
import { createRateLimiter } from '@floodgate/core'
import {
  CLIENT_LEFT_CASES,
  collectProcessErrors,
  expectHttp2StreamsLimited,
  expectServesOnAfterClientLeft,
  heldStore,
  PIPELINED_METHODS,
  PIPELINED_SUMMARIES,
  sendPipelined,
  stillMemoryStore,
  summarizePipelined,
  TRANSPORT_POLICY,
} from '@floodgate/core/testing'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { rateLimit } from './index.js'

// Transport and request-lifecycle edges over real sockets: HTTP/2 (h2c), pipelined HEAD and OPTIONS
// requests, a client that goes away while its decision is pending.

const policies = TRANSPORT_POLICY
const unhandled = collectProcessErrors()
afterEach(() => {
  vi.useRealTimers()
})

describe.each([
  ['koa 3', Koa3],
  ['koa 2', Koa2 as unknown as typeof Koa3],
])('%s', (_name, Koa) => {
  it('counts pipelined GET, HEAD and OPTIONS requests once each, with no 429 body on HEAD', async () => {
    const app = new Koa()
    app.use(rateLimit({ policies, store: stillMemoryStore(), logger: false }))
    app.use((ctx) => {
      ctx.body = 'route'
    })
    const server = createServer(app.callback())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const answers = await sendPipelined((server.address() as { port: number }).port, PIPELINED_METHODS)
      expect(answers.map(summarizePipelined)).toEqual(PIPELINED_SUMMARIES)
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('limits HTTP/2 (h2c) streams on http2.createServer by client address, each stream counted once, with the full 429', async () => {
    const limiter = createRateLimiter({ policies, store: stillMemoryStore(), logger: false })
    const app = new Koa()
    app.use(rateLimit({ limiter }))
    app.use((ctx) => {
      ctx.body = { ip: ctx.ip }
    })
    // Koa runs on Node's HTTP/2 compatibility API as it is (GET only here: Koa 2 never ends an answer
    // to HEAD over HTTP/2, with or without Floodgate).
    const server = createHttp2Server(app.callback())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      await expectHttp2StreamsLimited((server.address() as { port: number }).port, limiter)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it.each(CLIENT_LEFT_CASES)(
    'serves on after a client left while its decision was pending: %s',
    async (...clientLeft) => {
      const held = heldStore()
      const limiter = createRateLimiter({
        policies,
        store: held.store,
        logger: false,
        denyCache: false,
        ...clientLeft[2],
      })
      const app = new Koa()
      const errors: unknown[] = []
      app.on('error', (error) => void errors.push(error))
      app.use(rateLimit({ limiter }))
      let routed = 0
      app.use((ctx) => {
        routed++
        ctx.body = 'route'
      })
      const server = createServer(app.callback())
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      try {
        await expectServesOnAfterClientLeft(clientLeft, held, limiter, {
          server,
          routed: () => routed,
        })
        expect(errors).toEqual([])
        expect(unhandled()).toEqual([])
      } finally {
        server.closeAllConnections()
        await new Promise((resolve) => server.close(resolve))
      }
    },
  )
})
