import { createServer } from 'node:http'
import { expectSteadyOnKeepAlive, KEEP_ALIVE_CASES, serveOnLoopback } from '@floodgate/core/testing'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import { describe, it } from 'vitest'
import { rateLimit } from './index.js'

// 2,000 requests on one keep-alive connection, per way a decision ends: nothing the middleware
// registers per request may stay on the socket or the server (see keep-alive.ts).

describe.each([
  ['koa 3', Koa3],
  ['koa 2', Koa2 as unknown as typeof Koa3],
])('%s', (_name, Koa) => {
  it.each(KEEP_ALIVE_CASES)(
    'adds no listener per request on a keep-alive connection: %s',
    async (_case, make) => {
      const run = make()
      const app = new Koa()
      app.use(rateLimit(run.options))
      app.use((ctx) => {
        ctx.body = 'route'
      })
      const server = createServer(app.callback())
      const served = await serveOnLoopback(server)
      try {
        await expectSteadyOnKeepAlive(server, run)
      } finally {
        await served.close()
      }
    },
  )
})
