import { createServer } from 'node:http'
import { expectSteadyOnKeepAlive, KEEP_ALIVE_CASES, serveOnLoopback } from '@floodgate/core/testing'
import express5 from 'express'
import express4 from 'express4'
import { describe, it } from 'vitest'
import { rateLimit } from './index.js'

// 2,000 requests on one keep-alive connection, per way a decision ends: nothing the middleware
// registers per request may stay on the socket or the server (see keep-alive.ts).

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express5],
])('%s', (_name, express) => {
  it.each(KEEP_ALIVE_CASES)(
    'adds no listener per request on a keep-alive connection: %s',
    async (_case, make) => {
      const run = make()
      const app = express()
      app.use(rateLimit(run.options))
      app.get('/', (_req, res) => void res.send('route'))
      const server = createServer(app)
      const served = await serveOnLoopback(server)
      try {
        await expectSteadyOnKeepAlive(server, run)
      } finally {
        await served.close()
      }
    },
  )
})
