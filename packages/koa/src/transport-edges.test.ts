import { createServer } from 'node:http'
import { createServer as createHttp2Server } from 'node:http2'
import { connect } from 'node:net'
import { createRateLimiter } from '@floodgate/core'
import {
  collectUnhandledRejections,
  expectHttp2StreamsLimited,
  heldStore,
  PIPELINED_METHODS,
  PIPELINED_SUMMARIES,
  sendPipelined,
  statusOnFreshSocket,
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
const unhandled = collectUnhandledRejections()
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
