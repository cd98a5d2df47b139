import { connect } from 'node:net'
import { createRateLimiter, type RateLimitStore } from '@floodgate/core'
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
import fastify5 from 'fastify'
import fastify4 from 'fastify4'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { fastifyRateLimit } from './index.js'

// Transport and request-lifecycle edges over real sockets: HTTP/2 (h2c), pipelined HEAD and OPTIONS
// requests, a client that goes away while its decision is pending, and a response begun through
// reply.raw before the limiter.

const policies = TRANSPORT_POLICY
const unhandled = collectProcessErrors()
afterEach(() => {
  vi.useRealTimers()
})

describe.each([
  ['fastify 5', fastify5],
  ['fastify 4', fastify4 as unknown as typeof fastify5],
])('%s', (_name, fastify) => {
  it('counts pipelined GET, HEAD and OPTIONS requests once each, with no 429 body on HEAD', async () => {
    const app = fastify()
    await app.register(fastifyRateLimit, { policies, store: stillMemoryStore(), logger: false })
    app.route({ method: ['GET', 'OPTIONS'], url: '/', handler: async () => 'route' })
    await app.listen({ port: 0, host: '127.0.0.1' })
    try {
      const answers = await sendPipelined((app.server.address() as { port: number }).port, PIPELINED_METHODS)
      expect(answers.map(summarizePipelined)).toEqual(PIPELINED_SUMMARIES)
    } finally {
      await app.close()
    }
  })

  it('limits HTTP/2 (h2c) streams by client address, each stream counted once, with the full 429', async () => {
    const limiter = createRateLimiter({ policies, store: stillMemoryStore(), logger: false })
    const app = fastify({ http2: true })
    await app.register(fastifyRateLimit, { limiter })
    app.get('/', async (request) => ({ ip: request.ip }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    try {
      await expectHttp2StreamsLimited((app.server.address() as { port: number }).port, limiter)
    } finally {
      await app.close()
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
      const app = fastify()
      const errors: unknown[] = []
      app.setErrorHandler((error, _request, reply) => {
        errors.push(error)
        reply.code(500).send()
      })
      await app.register(fastifyRateLimit, { limiter })
      let routed = 0
      app.get('/', async () => {
        routed++
        return 'route'
      })
      await app.listen({ port: 0, host: '127.0.0.1' })
      try {
        await expectServesOnAfterClientLeft(clientLeft, held, limiter, {
          server: app.server,
          routed: () => routed,
        })
        expect(errors).toEqual([])
        expect(unhandled()).toEqual([])
      } finally {
        await app.close()
      }
    },
  )
})

describe.each([
  ['fastify 5', fastify5],
  ['fastify 4', fastify4 as unknown as typeof fastify5],
])('%s: a response begun through reply.raw before the limiter', (_name, fastify) => {
  const uncaught = collectProcessErrors('uncaughtException')

  /**
   * GET / on a fresh socket: the bytes received, whether the answer was complete, and whether the
   * server left it open until the client gave up.
   */
  function exchange(port: number): Promise<{ text: string; complete: boolean; heldOpen: boolean }> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () =>
        socket.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      )
      let text = ''
      let heldOpen = false
      socket.on('data', (chunk) => (text += chunk))
      socket.on('close', () => resolve({ text, complete: text.endsWith('\r\n0\r\n\r\n'), heldOpen }))
      socket.on('error', reject)
      socket.setTimeout(4_000, () => {
        heldOpen = true
        socket.destroy()
      })
    })
  }

  const failingStore = (): RateLimitStore => ({
    name: 'failing',
    local: false,
    consume: () => Promise.reject(new Error('connection refused')),
    reset: () => undefined,
    close: () => undefined,
  })

  it.each([
    [
      'memory store, admitted then denied',
      () => ({ policies, store: stillMemoryStore(), logger: false as const }),
    ],
    [
      "failing store, onStoreError 'deny'",
      () => ({ policies, store: failingStore(), onStoreError: 'deny' as const, logger: false as const }),
    ],
    [
      'an onLimited that answers',
      () => ({
        policies,
        store: stillMemoryStore(),
        logger: false as const,
        onLimited: (_request: unknown, reply: { code(n: number): { send(b: string): unknown } }) =>
          reply.code(429).send('custom'),
      }),
    ],
  ])('cuts a denied request off, with no uncaught error: %s', async (label, options) => {
    const app = fastify()
    // An app's hook that streams the head and a first chunk itself, then lets the request go on.
    app.addHook('onRequest', (_request, reply, done) => {
      reply.raw.writeHead(200, { 'content-type': 'text/plain' })
      reply.raw.write('early ')
      done()
    })
    await app.register(fastifyRateLimit, options() as never)
    let routed = 0
    app.get('/', (_request, reply) => {
      routed++
      reply.raw.end('route')
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as { port: number }).port
    try {
      const answers = [await exchange(port), await exchange(port), await exchange(port)]
      // The failing store's 'deny' denies every request; the memory store from the third on.
      const denied = answers.slice(routed)
      expect(routed).toBe(label.startsWith('failing') ? 0 : 2)
      for (const answer of answers.slice(0, routed)) expect(answer.complete).toBe(true)
      // Cut off: neither completed as if it were the route's answer, nor held open.
      for (const answer of denied) expect(answer).toMatchObject({ complete: false, heldOpen: false })
      await new Promise((resolve) => setImmediate(resolve))
      expect(uncaught()).toEqual([])
      expect(unhandled()).toEqual([])
    } finally {
      await app.close()
    }
  })

  it('cuts the request off when onLimited writes through reply.raw and then throws', async () => {
    const app = fastify({ logger: false })
    const errors: unknown[] = []
    app.setErrorHandler((error, _request, reply) => {
      errors.push(error)
      reply.code(500).send()
    })
    await app.register(fastifyRateLimit, {
      policies,
      store: stillMemoryStore(),
      logger: false,
      onLimited: async (_request, reply) => {
        reply.raw.writeHead(429, { 'content-type': 'text/plain' })
        reply.raw.write('partial')
        throw Object.assign(new Error('onLimited failed'), { statusCode: 429 })
      },
    })
    app.get('/', async () => 'route')
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as { port: number }).port
    try {
      const answers = [await exchange(port), await exchange(port), await exchange(port)]
      expect(answers.map((a) => /^HTTP\/1\.1 (\d+)/.exec(a.text)?.[1])).toEqual(['200', '200', '429'])
      expect(answers[2]).toMatchObject({ complete: false, heldOpen: false })
      // Its head is out: the app's error handler cannot answer it any more.
      expect(errors).toEqual([])
      await new Promise((resolve) => setImmediate(resolve))
      expect(uncaught()).toEqual([])
      expect(unhandled()).toEqual([])
    } finally {
      await app.close()
    }
  })
})
