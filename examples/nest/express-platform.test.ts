// docs/nestjs.md, "Express platform": @floodgate/express in main.ts (app.use) and in a module's
// configure(), on Nest's Express platform.
import { memoryStore, slidingWindow } from '@floodgate/core'
import { manualClock } from '@floodgate/core/testing'
import { rateLimit } from '@floodgate/express'
import { Controller, Get, type INestApplication, Injectable, Module } from '@nestjs/common'
import { afterEach, describe, expect, it } from 'vitest'
import { AuthController, appModule, CatsController } from './app.module.js'
import { expressApp, rateLimitFields, send } from './apps.js'

@Module({ controllers: [AuthController, CatsController] })
class PlainModule {}

/** main.ts's app.use: `limit` requests a minute for every route, on `clock`. */
const everyRoute = (limit: number, clock: () => number) =>
  rateLimit({ policies: slidingWindow({ limit, window: '1 m' }), store: memoryStore({ clock }) })

let app: INestApplication | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

describe('app.use in main.ts', () => {
  it('limits every route, an unknown path included, on one counter per client', async () => {
    const clock = manualClock(0)
    app = await expressApp(PlainModule, (a) => a.use(everyRoute(3, clock)))
    const cats = await send(app, 'GET', '/cats')
    const form = await send(app, 'GET', '/auth/login')
    const unknown = await send(app, 'GET', '/no-such-route')
    expect([cats.status, form.status, unknown.status]).toEqual([200, 200, 404])
    expect([cats, form, unknown].map((a) => a.headers['x-ratelimit-remaining'])).toEqual(['2', '1', '0'])
    expect(cats.headers['ratelimit-policy']).toBe('"sliding-window";q=3;w=60')
    const denied = await send(app, 'POST', '/auth/login')
    expect(denied.status).toBe(429)
    expect(denied.headers['content-type']).toBe('application/problem+json')
    expect(denied.headers['retry-after']).toBe('80') // the sliding window's weight of the last 3 falls under 3 at 80 s
  })

  it.each([
    ["with app.set('trust proxy', 1), X-Forwarded-For names the client behind the proxy", 1, [200, 200]],
    ['without, every client behind the proxy shares its address', undefined, [200, 429]],
  ])('%s', async (_case, trust, statuses) => {
    app = await expressApp(PlainModule, (a) => {
      if (trust !== undefined) a.set('trust proxy', trust)
      a.use(
        rateLimit({
          policies: slidingWindow({ limit: 1, window: '1 m' }),
          store: memoryStore({ clock: manualClock(0) }),
          logger: false, // the warning that X-Forwarded-For is ignored
        }),
      )
    })
    const answers = []
    for (const client of ['203.0.113.1', '203.0.113.2'])
      answers.push((await send(app, 'GET', '/cats', { 'x-forwarded-for': client })).status)
    expect(answers).toEqual(statuses)
  })
})

describe("a module's configure()", () => {
  it('limits POST /auth/login alone, and answers the sixth login with 429', async () => {
    const clock = manualClock(0)
    app = await expressApp(appModule(clock))
    for (let i = 0; i < 5; i++) {
      const login = await send(app, 'POST', '/auth/login')
      expect(login.status).toBe(201)
      expect(JSON.parse(login.body)).toEqual({ remaining: 4 - i })
      expect(rateLimitFields(login)).toMatchObject({ 'ratelimit-policy': '"login";q=5;w=900' })
    }
    const sixth = await send(app, 'POST', '/auth/login')
    expect(sixth.status).toBe(429)
    expect(rateLimitFields(sixth)).toEqual({
      ratelimit: '"login";r=0;t=900',
      'ratelimit-policy': '"login";q=5;w=900',
      'x-ratelimit-limit': '5',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': '900',
      'retry-after': '900',
    })
    // Other methods and routes are not limited by it.
    for (const [method, url] of [
      ['GET', '/auth/login'],
      ['GET', '/cats'],
    ] as const) {
      const other = await send(app, method, url)
      expect(other.status).toBe(200)
      expect(rateLimitFields(other)).toEqual({})
    }
    clock.advance(15 * 60_000)
    expect((await send(app, 'POST', '/auth/login')).status).toBe(201)
  })

  it.each([
    ['the route limiter, which runs second', 100, '5', [4, 3]],
    ["main.ts's, which runs first", 2, '2', [1, 0]],
  ])(
    'with app.use too, a login shows the headers of the limiter with fewer left: %s',
    async (_which, everyRouteLimit, limit, remaining) => {
      const clock = manualClock(0)
      app = await expressApp(appModule(clock), (a) => a.use(everyRoute(everyRouteLimit, clock)))
      for (const left of remaining) {
        const login = await send(app, 'POST', '/auth/login')
        expect(login.status).toBe(201)
        expect(login.headers['x-ratelimit-limit']).toBe(limit)
        expect(login.headers['x-ratelimit-remaining']).toBe(String(left))
        // The handler's req.rateLimit is the same decision.
        expect(JSON.parse(login.body)).toEqual({ remaining: left })
      }
      const cats = await send(app, 'GET', '/cats')
      expect(cats.headers['x-ratelimit-limit']).toBe(String(everyRouteLimit))
    },
  )
})

@Injectable()
class Greeter {
  greet() {
    return 'hello'
  }
}

@Controller('hello')
class HelloController {
  constructor(private readonly greeter: Greeter) {}

  @Get()
  hello() {
    return this.greeter.greet()
  }
}

@Module({ controllers: [HelloController], providers: [Greeter] })
class GreeterModule {}

it('injects by constructor type, without @Inject(): vitest emits the decorator metadata (tsconfig.json)', async () => {
  app = await expressApp(GreeterModule)
  expect((await send(app, 'GET', '/hello')).body).toBe('hello')
})
