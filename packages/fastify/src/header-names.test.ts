import { fixedWindow, memoryStore } from '@floodgate/core'
import { expectLowercaseHeaderNames, manualClock } from '@floodgate/core/testing'
import fastify5 from 'fastify'
import fastify4 from 'fastify4'
import { describe, it } from 'vitest'
import { fastifyRateLimit } from './index.js'

// Header names go on the wire in lowercase, as on Express and Koa: Fastify lowercases every name
// it is given, and the plugin hands them over in lowercase already.

/** A memory store whose clock stands still: no minute's end can fall between a test's requests. */
const stillStore = () => memoryStore({ clock: manualClock(1_800_000_000_000) })

describe.each([
  ['fastify 5', fastify5],
  ['fastify 4', fastify4 as unknown as typeof fastify5],
])('%s', (_name, fastify) => {
  it('writes every rate-limit header name, and the 429’s, in lowercase', async () => {
    const app = fastify()
    await app.register(fastifyRateLimit, {
      policies: fixedWindow({ limit: 1, window: '1 m' }),
      store: stillStore(),
      logger: false,
    })
    app.get('/', (_request, reply) => {
      reply.send('ok')
    })
    try {
      await app.listen({ port: 0, host: '127.0.0.1' })
      const { port } = app.server.address() as { port: number }
      await expectLowercaseHeaderNames(`http://127.0.0.1:${port}/`)
    } finally {
      await app.close()
    }
  })
})
