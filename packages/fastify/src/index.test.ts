import { fixedWindow, memoryStore } from '@floodgate/core'
import {
  type AdapterDriver,
  type BehaviourApp,
  manualClock,
  runAdapterBehaviour,
  runAdapterTraces,
} from '@floodgate/core/testing'
import fastify5, { type FastifyReply, type FastifyRequest, type RouteHandlerMethod } from 'fastify'
import fastify4 from 'fastify4'
import { describe, expect, it } from 'vitest'
import { type FastifyRateLimitOptions, fastifyRateLimit, type RateLimitRouteOptions } from './index.js'

type FastifyFactory = typeof fastify5

/** A memory store whose clock stands still: no minute's end can fall between a test's requests. */
const stillStore = () => memoryStore({ clock: manualClock(1_800_000_000_000) })

/** Builds the table's app on one Fastify major and sends requests with `inject`. */
function driver(name: string, fastify: FastifyFactory): AdapterDriver {
  return {
    name,
    answerLimited: (status: number, text: string) => (_request: FastifyRequest, reply: FastifyReply) =>
      reply.code(status).type('text/plain').send(text),
    start: async (spec: BehaviourApp) => {
      const errors: unknown[] = []
      let handled = 0
      const handler: RouteHandlerMethod = async (request) => {
        handled++
        return { remaining: request.rateLimit?.remaining ?? null }
      }
      const app = fastify({ trustProxy: spec.trustProxy ? 'loopback' : false })
      app.setErrorHandler((error, _request, reply) => {
        errors.push(error)
        reply.code((error as { statusCode?: number }).statusCode ?? 500).send((error as Error).message)
      })
      const early = spec.earlyHeaders
      if (early !== undefined) app.addHook('onRequest', async (_request, reply) => void reply.headers(early))
      const global = spec.global as FastifyRateLimitOptions | undefined
      await app.register(fastifyRateLimit, global ?? { global: false })
      for (const route of spec.routes ?? []) {
        const rateLimit = route.rateLimit as RateLimitRouteOptions | false
        app.get(route.path, { config: { rateLimit } }, handler)
      }
      if (spec.mountTwice && global !== undefined) {
        // The same options again in a child context: both hooks run for its routes.
        await app.register(async (child) => {
          const second = spec.mountTwice === true ? global : (spec.mountTwice as FastifyRateLimitOptions)
          await child.register(fastifyRateLimit, second)
          child.get('/', handler)
        })
      } else {
        app.get('/', handler)
      }
      try {
        await app.ready()
      } catch (error) {
        await app.close()
        throw error
      }
      return {
        errors,
        handled: () => handled,
        get: async (path: string, headers: Record<string, string> = {}) => {
          const response = await app.inject({ method: 'GET', url: path, headers })
          const fetchHeaders = new Headers()
          for (const [key, value] of Object.entries(response.headers)) {
            if (value !== undefined) fetchHeaders.set(key, String(value))
          }
          return { status: response.statusCode, headers: fetchHeaders, body: response.body }
        },
        close: () => app.close(),
      }
    },
  }
}

runAdapterBehaviour(driver('fastify 5', fastify5))
runAdapterBehaviour(driver('fastify 4', fastify4 as unknown as FastifyFactory))
runAdapterTraces([driver('fastify 5', fastify5), driver('fastify 4', fastify4 as unknown as FastifyFactory)])

describe.each([
  ['fastify 5', fastify5],
  ['fastify 4', fastify4 as unknown as FastifyFactory],
])('%s: onLimited returning the reply', (_name, fastify) => {
  it('answers later, as Fastify reads a returned reply: "I will send it"', async () => {
    const app = fastify()
    await app.register(fastifyRateLimit, {
      policies: fixedWindow({ limit: 1, window: '1 m' }),
      store: stillStore(),
      onLimited: (_request, reply) => {
        setImmediate(() => reply.code(429).type('text/plain').send('custom, later'))
        return reply
      },
    })
    app.get('/', async () => 'route')
    try {
      await app.inject('/')
      const response = await app.inject('/')
      expect([response.statusCode, response.body]).toEqual([429, 'custom, later'])
    } finally {
      await app.close()
    }
  })

  it('logs an error it throws after sending its reply (Fastify drops a hook error then)', async () => {
    const logged: { msg: string; err?: { message: string } }[] = []
    const stream = { write: (line: string) => void logged.push(JSON.parse(line)) }
    const app = fastify({ logger: { level: 'error', stream } })
    await app.register(fastifyRateLimit, {
      policies: fixedWindow({ limit: 1, window: '1 m' }),
      store: stillStore(),
      onLimited: async (_request, reply) => {
        await reply.code(418).send('custom')
        throw new Error('after the reply')
      },
    })
    app.get('/', async () => 'route')
    try {
      await app.inject('/')
      const response = await app.inject('/')
      expect([response.statusCode, response.body]).toEqual([418, 'custom'])
      // The onLimited promise settles once its reply has finished, as the response does: a turn.
      await new Promise((resolve) => setImmediate(resolve))
      expect(logged).toHaveLength(1)
      expect(logged[0]).toMatchObject({
        msg: 'onLimited failed after its reply was sent',
        err: { message: 'after the reply' },
      })
    } finally {
      await app.close()
    }
  })
})
