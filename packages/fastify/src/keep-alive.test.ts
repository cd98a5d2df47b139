import { expectSteadyOnKeepAlive, KEEP_ALIVE_CASES } from '@floodgate/core/testing'
import fastify5 from 'fastify'
import fastify4 from 'fastify4'
import { describe, it } from 'vitest'
import { fastifyRateLimit } from './index.js'

// 2,000 requests on one keep-alive connection, per way a decision ends: nothing the plugin
// registers per request may stay on the socket or the server (see keep-alive.ts). A route added
// after the plugin is limited by its route-level hook; one declared before it loaded, by its
// app-level preParsing hook (unseen-routes.test.ts).

describe.each([
  ['fastify 5', fastify5],
  ['fastify 4', fastify4 as unknown as typeof fastify5],
])('%s', (_name, fastify) => {
  describe.each([
    ['a route added after the plugin', false],
    ['a route declared before the plugin loaded', true],
  ])('%s', (_where, before) => {
    it.each(KEEP_ALIVE_CASES)(
      'adds no listener per request on a keep-alive connection: %s',
      async (_case, make) => {
        const run = make()
        const app = fastify()
        const route = () => app.get('/', async () => 'route')
        if (before) route()
        await app.register(fastifyRateLimit, run.options)
        if (!before) route()
        await app.listen({ port: 0, host: '127.0.0.1' })
        try {
          await expectSteadyOnKeepAlive(app.server, run)
        } finally {
          await app.close()
        }
      },
    )
  })
})
