import { createServer } from 'node:http'
import { fixedWindow, memoryStore } from '@floodgate/core'
import { expectLowercaseHeaderNames, manualClock, serveOnLoopback } from '@floodgate/core/testing'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import { describe, it } from 'vitest'
import { rateLimit } from './index.js'

// Header names go on the wire in lowercase, as on Express and Fastify (which lowercases every name):
// names are case-insensitive, and Node spends less on a name that is lowercase already.

/** A memory store whose clock stands still: no minute's end can fall between a test's requests. */
const stillStore = () => memoryStore({ clock: manualClock(1_800_000_000_000) })

describe.each([
  ['koa 3', Koa3],
  ['koa 2', Koa2 as unknown as typeof Koa3],
])('%s', (_name, Koa) => {
  it('writes every rate-limit header name, and the 429’s, in lowercase', async () => {
    const app = new Koa()
    app.use(
      rateLimit({ policies: fixedWindow({ limit: 1, window: '1 m' }), store: stillStore(), logger: false }),
    )
    app.use((ctx) => {
      ctx.body = 'ok'
    })
    const server = await serveOnLoopback(createServer(app.callback()))
    try {
      await expectLowercaseHeaderNames(`${server.base}/`)
    } finally {
      await server.close()
    }
  })
})
