// docs/nestjs.md, "Fastify platform": @floodgate/fastify registered on Nest's Fastify platform, routes'
// own limits by @RouteConfig, and why not @floodgate/express there.
import { fixedWindow, memoryStore, slidingWindow } from '@floodgate/core'
import { manualClock } from '@floodgate/core/testing'
import { rateLimit } from '@floodgate/express'
import { fastifyRateLimit } from '@floodgate/fastify'
import { Module } from '@nestjs/common'
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { CatsController } from './app.module.js'
import { fastifyApp, rateLimitFields, send } from './apps.js'
import { SearchController } from './search.controller.js'

@Module({ controllers: [SearchController, CatsController] })
class AppModule {}

/** What main.ts registers, with `limit` requests a minute on `clock` (the routes' own limits count on it too). */
const plugin = (limit: number, clock = manualClock(0)) =>
  ({ policies: slidingWindow({ limit, window: '1 m' }), store: memoryStore({ clock }) }) as const

let app: NestFastifyApplication | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

describe('app.register(fastifyRateLimit) before listen()', () => {
  it('limits every route, an unknown path included, on one counter per client', async () => {
    app = await fastifyApp(AppModule, (a) => a.register(fastifyRateLimit, plugin(3)))
    const cats = await send(app, 'GET', '/cats')
    const unknown = await send(app, 'GET', '/no-such-route')
    expect([cats.status, unknown.status]).toEqual([200, 404])
    expect([cats, unknown].map((a) => a.headers['x-ratelimit-remaining'])).toEqual(['2', '1'])
    await send(app, 'GET', '/cats')
    const denied = await send(app, 'GET', '/no-such-route')
    expect(denied.status).toBe(429)
    expect(denied.headers['content-type']).toBe('application/problem+json')
  })

  it("trusts the proxy by its address: X-Forwarded-For from 127.0.0.1 names the client, from elsewhere it doesn't", async () => {
    app = await fastifyApp(AppModule, (a) => a.register(fastifyRateLimit, plugin(1)))
    const viaProxy = (client: string) =>
      send(app!, 'GET', '/cats', { 'x-forwarded-for': client }, '127.0.0.1')
    expect((await viaProxy('203.0.113.1')).status).toBe(200)
    expect((await viaProxy('203.0.113.2')).status).toBe(200)
    expect((await viaProxy('203.0.113.1')).status).toBe(429)
    const forged = (client: string) =>
      send(app!, 'GET', '/cats', { 'x-forwarded-for': client }, '198.51.100.7')
    expect((await forged('203.0.113.3')).status).toBe(200)
    expect((await forged('203.0.113.4')).status).toBe(429)
  })

  it('ignores a hop count (trustProxy: 1): every client behind the proxy shares one limit', async () => {
    app = await fastifyApp(AppModule, (a) => a.register(fastifyRateLimit, plugin(1)), 1)
    const viaProxy = (client: string) =>
      send(app!, 'GET', '/cats', { 'x-forwarded-for': client }, '127.0.0.1')
    expect((await viaProxy('203.0.113.1')).status).toBe(200)
    expect((await viaProxy('203.0.113.2')).status).toBe(429)
  })

  it('@RouteConfig gives /search its own limit, read back in the handler, and leaves /health unlimited', async () => {
    app = await fastifyApp(AppModule, (a) => a.register(fastifyRateLimit, plugin(2)))
    for (let i = 0; i < 10; i++) {
      const search = await send(app, 'GET', '/search')
      expect(search.status).toBe(200)
      expect(JSON.parse(search.body)).toEqual({ remaining: 9 - i })
      expect(search.headers['ratelimit-policy']).toBe('"search";q=10;w=60')
    }
    const eleventh = await send(app, 'GET', '/search')
    expect(eleventh.status).toBe(429)
    expect(eleventh.headers['retry-after']).toBe('60')
    for (let i = 0; i < 3; i++) {
      const health = await send(app, 'GET', '/health')
      expect(health.status).toBe(200)
      expect(health.body).toBe('ok')
      expect(rateLimitFields(health)).toEqual({})
    }
    // The plugin's own limit of 2 is untouched by either route.
    expect((await send(app, 'GET', '/cats')).headers['x-ratelimit-remaining']).toBe('1')
  })
})

describe('@floodgate/express mounted on the Fastify platform (the page says not to)', () => {
  const mounted = (limit: number) =>
    fastifyApp(AppModule, (a) =>
      a.use(
        rateLimit({
          policies: fixedWindow({ limit, window: '1 m' }),
          store: memoryStore({ clock: manualClock(0) }),
        }),
      ),
    )

  it('counts and answers 429', async () => {
    app = await mounted(1)
    expect((await send(app, 'GET', '/cats')).status).toBe(200)
    const denied = await send(app, 'GET', '/cats')
    expect(denied.status).toBe(429)
    expect(denied.headers['content-type']).toBe('application/problem+json')
  })

  it("ignores the adapter's trustProxy: every client behind the proxy shares one limit", async () => {
    app = await mounted(1)
    expect((await send(app, 'GET', '/cats', { 'x-forwarded-for': '203.0.113.1' }, '127.0.0.1')).status).toBe(
      200,
    )
    expect((await send(app, 'GET', '/cats', { 'x-forwarded-for': '203.0.113.2' }, '127.0.0.1')).status).toBe(
      429,
    )
  })

  it('ignores @RouteConfig (rateLimit: false routes are limited too) and sets no request.rateLimit', async () => {
    app = await mounted(1)
    const search = await send(app, 'GET', '/search')
    expect(search.status).toBe(200)
    expect(search.headers['x-ratelimit-limit']).toBe('1') // not /search's own 10
    expect(JSON.parse(search.body)).toEqual({}) // remaining: undefined
    expect((await send(app, 'GET', '/health')).status).toBe(429)
  })
})

// Typechecked by tsc -b, never run: the Fastify Nest 12 pins refuses a hop count.
export function trustProxyHopCount() {
  // @ts-expect-error trustProxy: 1 is no longer in the types of the Fastify that Nest 12 pins
  return new FastifyAdapter({ trustProxy: 1 })
}
