import { createServer } from 'node:http'
import { connect } from 'node:net'
import { createRateLimiter } from '@floodgate/core'
import {
  collectUnhandledRejections,
  heldStore,
  PIPELINED_METHODS,
  PIPELINED_SUMMARIES,
  sendPipelined,
  statusOnFreshSocket,
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
const unhandled = collectUnhandledRejections()
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

  it.each([
    ['admitted', 'answer', {}],
    ['denied', 'answer', {}],
    ["store failure, onStoreError 'deny'", 'fail', { onStoreError: 'deny' as const }],
    ["store failure, onStoreError 'allow'", 'fail', {}],
    // The limiter's deadline passes after the client left; the store's late answer still counts.
    ["store timeout, onStoreError 'deny'", 'timeout', { onStoreError: 'deny' as const }],
    ["store timeout, onStoreError 'allow'", 'timeout', {}],
  ] as const)(
    'serves on after a client left while its decision was pending: %s',
    async (name, settle, extra) => {
      const { store, held, nextCall } = heldStore()
      const limiter = createRateLimiter({ policies, store, logger: false, denyCache: false, ...extra })
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
      const port = (server.address() as { port: number }).port
      try {
        if (name === 'denied') {
          // Use up the quota first.
          for (let i = 0; i < 2; i++) {
            const answered = statusOnFreshSocket(port)
            await nextCall()
            held.at(-1)!.answer()
            expect(await answered).toBe(200)
          }
        }
        const gone = new Promise<void>((resolve) =>
          server.once('request', (request) => request.socket.once('close', resolve)),
        )
        if (settle === 'timeout') vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
        const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
        socket.on('error', () => {})
        await nextCall()
        socket.destroy()
        await gone
        const routedBefore = routed
        if (settle === 'timeout') {
          await vi.advanceTimersByTimeAsync(250)
          vi.useRealTimers()
          held.at(-1)!.answer()
        } else held.at(-1)![settle]()
        // The next request is decided and answered: the process serves on.
        const next = statusOnFreshSocket(port)
        await nextCall()
        held.at(-1)!.answer()
        expect(await next).toBe(name === 'admitted' || settle !== 'answer' ? 200 : 429)
        // A request decided after its client left is counted like any other (the store was asked), and
        // an admitted one still reaches the route, as any request whose client left mid-way would.
        expect(routed - routedBefore).toBe(name === 'denied' ? 0 : 'onStoreError' in extra ? 1 : 2)
        // Used up (2 of 2) unless the store failed on the request whose client left.
        expect((await limiter.peek('ip:127.0.0.1')).allowed).toBe(settle === 'fail')
        expect(errors).toEqual([])
        expect(unhandled()).toEqual([])
      } finally {
        server.closeAllConnections()
        await new Promise((resolve) => server.close(resolve))
      }
    },
  )
})
