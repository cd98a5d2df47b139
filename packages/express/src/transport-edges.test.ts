import { createServer } from 'node:http'
import { createRateLimiter } from '@floodgate/core'
import {
  CLIENT_LEFT_CASES,
  collectProcessErrors,
  expectServesOnAfterClientLeft,
  heldStore,
  PIPELINED_METHODS,
  PIPELINED_SUMMARIES,
  sendPipelined,
  stillMemoryStore,
  summarizePipelined,
  TRANSPORT_POLICY,
} from '@floodgate/core/testing'
import express5, { type ErrorRequestHandler } from 'express'
import express4 from 'express4'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { rateLimit } from './index.js'

// Request-lifecycle edges over real sockets: pipelined HEAD and OPTIONS requests, and a client that
// goes away while its decision is pending.
// (Express 4 and 5 do not run on Node's HTTP/2 compatibility API, with or without Floodgate.)

const policies = TRANSPORT_POLICY
const unhandled = collectProcessErrors()
afterEach(() => {
  vi.useRealTimers()
})

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express5],
])('%s', (_name, express) => {
  it('counts pipelined GET, HEAD and OPTIONS requests once each, with no 429 body on HEAD', async () => {
    const app = express()
    app.use(rateLimit({ policies, store: stillMemoryStore(), logger: false }))
    app.all('/', (_req, res) => void res.send('route'))
    const server = createServer(app)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const answers = await sendPipelined((server.address() as { port: number }).port, PIPELINED_METHODS)
      expect(answers.map(summarizePipelined)).toEqual(PIPELINED_SUMMARIES)
    } finally {
      server.closeAllConnections()
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
      const app = express()
      const errors: unknown[] = []
      app.use(rateLimit({ limiter }))
      let routed = 0
      app.get('/', (_req, res) => {
        routed++
        res.send('route')
      })
      const onError: ErrorRequestHandler = (error, _req, res, _next) => {
        errors.push(error)
        res.status(500).end()
      }
      app.use(onError)
      const server = createServer(app)
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
