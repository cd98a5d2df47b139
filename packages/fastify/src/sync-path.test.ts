import { fixedWindow, memoryStore } from '@floodgate/core'
import fastify5 from 'fastify'
import fastify4 from 'fastify4'
import { describe, expect, it } from 'vitest'
import { fastifyRateLimit } from './index.js'

// On the memory store the hook decides and calls done() in the same call, with no promise of
// Floodgate's in between: an app-wide onRequest hook (which runs before the plugin's route-level
// one) sees the route's handler run inside its done().

/** A store whose clock stands at the start of a minute: the denial's Retry-After is exactly 60. */
const atWindowStart = () => memoryStore({ clock: () => 1_700_000_040_000 })

describe.each([
  ['fastify 5', fastify5],
  ['fastify 4', fastify4 as unknown as typeof fastify5],
])('%s on the memory store', (_name, fastify) => {
  it('reaches the handler within an earlier hook’s done(), and answers 429 the same way', async () => {
    const app = fastify()
    let inside = false
    const seen: boolean[] = []
    app.addHook('onRequest', (_request, _reply, done) => {
      inside = true
      done()
      inside = false
    })
    await app.register(fastifyRateLimit, {
      policies: fixedWindow({ limit: 1, window: '1 m' }),
      store: atWindowStart(),
      logger: false,
    })
    app.get('/', (_request, reply) => {
      seen.push(inside)
      reply.send('ok')
    })
    try {
      expect((await app.inject({ method: 'GET', url: '/' })).statusCode).toBe(200)
      const limited = await app.inject({ method: 'GET', url: '/' })
      expect(limited.statusCode).toBe(429)
      expect(limited.headers['retry-after']).toBe('60')
      expect(seen).toEqual([true])
    } finally {
      await app.close()
    }
  })
})
