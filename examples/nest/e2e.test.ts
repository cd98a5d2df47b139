// docs/nestjs.md, "End-to-end tests": the page's e2e test, on the page's AppModule, in two tests in a
// row (a limiter created in configure() is new for each app); one created at module level keeps its
// counters until reset; on Fastify, the plugin registered by a function the tests call.
import { clientIpKey, fixedWindow, memoryStore } from '@floodgate/core'
import { manualClock } from '@floodgate/core/testing'
import { rateLimit } from '@floodgate/express'
import { fastifyRateLimit } from '@floodgate/fastify'
import {
  type INestApplication,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  RequestMethod,
} from '@nestjs/common'
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify'
import { Test } from '@nestjs/testing'
import request from 'supertest'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AppModule, AuthController, CatsController } from './app.module.js'

describe('rate limits (e2e)', () => {
  let app: INestApplication

  beforeEach(async () => {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile()
    app = moduleRef.createNestApplication()
    await app.init()
  })
  afterEach(() => app.close())

  it('answers the sixth login with 429', async () => {
    for (let i = 0; i < 5; i++) await request(app.getHttpServer()).post('/auth/login').expect(201)
    await request(app.getHttpServer()).post('/auth/login').expect(429).expect('retry-after', /^\d+$/)
  })

  it('answers the sixth login with 429 again: the next app has a new limiter', async () => {
    for (let i = 0; i < 5; i++) await request(app.getHttpServer()).post('/auth/login').expect(201)
    await request(app.getHttpServer()).post('/auth/login').expect(429).expect('retry-after', '900')
  })
})

describe('a limiter created once, at module level', () => {
  const loginLimit = rateLimit({
    policies: fixedWindow({ name: 'login', limit: 5, window: '15 m' }),
    store: memoryStore({ clock: manualClock(0) }),
  })

  @Module({ controllers: [AuthController, CatsController] })
  class SharedLimiterModule implements NestModule {
    configure(consumer: MiddlewareConsumer) {
      consumer.apply(loginLimit).forRoutes({ path: 'auth/login', method: RequestMethod.POST })
    }
  }

  const newApp = async () => {
    const moduleRef = await Test.createTestingModule({ imports: [SharedLimiterModule] }).compile()
    return moduleRef.createNestApplication().init()
  }

  it("keeps its counters from one app to the next until reset(clientIpKey('127.0.0.1')!)", async () => {
    const first = await newApp()
    for (let i = 0; i < 5; i++) await request(first.getHttpServer()).post('/auth/login').expect(201)
    await first.close()
    const second = await newApp()
    await request(second.getHttpServer()).post('/auth/login').expect(429)
    await loginLimit.limiter.reset('127.0.0.1') // never counted: resets nothing
    await request(second.getHttpServer()).post('/auth/login').expect(429)
    await loginLimit.limiter.reset(clientIpKey('127.0.0.1')!)
    await request(second.getHttpServer()).post('/auth/login').expect(201)
    await second.close()
  })
})

describe('on Fastify, the plugin registered by a function main.ts and the tests both call', () => {
  @Module({ controllers: [AuthController, CatsController] })
  class FastifyAppModule {}

  const setUpRateLimit = (app: NestFastifyApplication) =>
    app.register(fastifyRateLimit, {
      policies: fixedWindow({ name: 'login', limit: 5, window: '15 m' }),
      store: memoryStore({ clock: manualClock(0) }),
    })

  it('answers the sixth request with 429 through app.inject()', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [FastifyAppModule] }).compile()
    const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter())
    await setUpRateLimit(app)
    await app.init()
    await app.getHttpAdapter().getInstance().ready()
    for (let i = 0; i < 5; i++)
      expect((await app.inject({ method: 'POST', url: '/auth/login' })).statusCode).toBe(201)
    const sixth = await app.inject({ method: 'POST', url: '/auth/login' })
    expect(sixth.statusCode).toBe(429)
    expect(sixth.headers['retry-after']).toBe('900')
    await app.close()
  })
})
