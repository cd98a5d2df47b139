import { createServer } from 'node:http'
import { fixedWindow, memoryStore } from '@floodgate/core'
import { expectLowercaseHeaderNames, manualClock, serveOnLoopback } from '@floodgate/core/testing'
import express5 from 'express'
import express4 from 'express4'
import { describe, it } from 'vitest'
import { rateLimit } from './index.js'

// Header names go on the wire in lowercase, as on Koa and Fastify (which lowercases every name):
// names are case-insensitive, and Node spends less on a name that is lowercase already.

/** A memory store whose clock stands still: no minute's end can fall between a test's requests. */
const stillStore = () => memoryStore({ clock: manualClock(1_800_000_000_000) })

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express5],
])('%s', (_name, express) => {
  it('writes every rate-limit header name, and the 429’s, in lowercase', async () => {
    const app = express()
    app.use(
      rateLimit({ policies: fixedWindow({ limit: 1, window: '1 m' }), store: stillStore(), logger: false }),
    )
    app.get('/', (_req, res) => {
      res.end('ok')
    })
    const server = await serveOnLoopback(createServer(app))
    try {
      await expectLowercaseHeaderNames(`${server.base}/`)
    } finally {
      await server.close()
    }
  })
})
