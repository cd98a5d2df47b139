// docs/nestjs.md, "Errors": what a callback throws reaches Nest's exception filters, once per request,
// on both platforms and with every wiring; an onLimited throwing a 429 HttpException is answered by
// Nest with the rate-limit headers set; a key's HttpException keeps its status, other errors are 500s.
import { fixedWindow, memoryStore, type Policy } from '@floodgate/core'
import { manualClock } from '@floodgate/core/testing'
import { rateLimit } from '@floodgate/express'
import { fastifyRateLimit } from '@floodgate/fastify'
import {
  type ArgumentsHost,
  Catch,
  ForbiddenException,
  HttpException,
  HttpStatus,
  type INestApplication,
  type MiddlewareConsumer,
  Module,
  type NestModule,
} from '@nestjs/common'
import { BaseExceptionFilter } from '@nestjs/core'
import { afterEach, describe, expect, it } from 'vitest'
import { CatsController } from './app.module.js'
import { expressApp, fastifyApp, rateLimitFields, send } from './apps.js'

@Module({ controllers: [CatsController] })
class PlainModule {}

/** Nest's default filter, recording what reaches it. */
@Catch()
class RecordingFilter extends BaseExceptionFilter {
  readonly caught: unknown[] = []
  override catch(exception: unknown, host: ArgumentsHost) {
    this.caught.push(exception)
    super.catch(exception, host)
  }
}

/** The callbacks under test; the rest is one limit of 1 a minute on a manual clock. */
interface Callbacks {
  key?: () => string
  tier?: () => string
  onLimited?: () => unknown
}
const optionsWith = (callbacks: Callbacks) => {
  const policies: Policy[] = [fixedWindow({ limit: 1, window: '1 m' })]
  return {
    ...(callbacks.tier ? { tiers: { free: policies }, defaultTier: 'free' } : { policies }),
    store: memoryStore({ clock: manualClock(0) }),
    ...callbacks,
  }
}

const WIRINGS = {
  'app.use (Express)': (callbacks: Callbacks, filter: (app: INestApplication) => RecordingFilter) =>
    expressApp(PlainModule, (a) => {
      a.useGlobalFilters(filter(a))
      a.use(rateLimit(optionsWith(callbacks)))
    }),
  'consumer.apply (Express)': (callbacks: Callbacks, filter: (app: INestApplication) => RecordingFilter) => {
    @Module({ controllers: [CatsController] })
    class AppModule implements NestModule {
      configure(consumer: MiddlewareConsumer) {
        consumer.apply(rateLimit(optionsWith(callbacks))).forRoutes(CatsController)
      }
    }
    return expressApp(AppModule, (a) => a.useGlobalFilters(filter(a)))
  },
  'app.register (Fastify)': (callbacks: Callbacks, filter: (app: INestApplication) => RecordingFilter) =>
    fastifyApp(PlainModule, (a) => {
      a.useGlobalFilters(filter(a))
      return a.register(fastifyRateLimit, optionsWith(callbacks))
    }),
}

let app: INestApplication | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

describe.each(Object.entries(WIRINGS))('%s', (_wiring, start) => {
  let filter: RecordingFilter
  const build = async (callbacks: Callbacks) => {
    app = await start(callbacks, (a) => {
      filter = new RecordingFilter(a.getHttpAdapter())
      return filter
    })
    return app
  }

  it('an onLimited throwing a 429 HttpException is answered by Nest, with the rate-limit headers and Retry-After', async () => {
    const thrown = new HttpException('Too many requests, slow down', HttpStatus.TOO_MANY_REQUESTS)
    await build({
      onLimited: () => {
        throw thrown
      },
    })
    expect((await send(app!, 'GET', '/cats')).status).toBe(200)
    expect(filter.caught).toEqual([])
    const denied = await send(app!, 'GET', '/cats')
    expect(denied.status).toBe(429)
    expect(denied.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(JSON.parse(denied.body)).toEqual({ statusCode: 429, message: 'Too many requests, slow down' })
    expect(rateLimitFields(denied)).toMatchObject({ 'x-ratelimit-remaining': '0', 'retry-after': '60' })
    expect(filter.caught).toEqual([thrown])
  })

  it('a key throwing an HttpException gets its status', async () => {
    const thrown = new ForbiddenException('no API key')
    await build({
      key: () => {
        throw thrown
      },
    })
    const answer = await send(app!, 'GET', '/cats')
    expect(answer.status).toBe(403)
    expect(JSON.parse(answer.body)).toEqual({ statusCode: 403, message: 'no API key', error: 'Forbidden' })
    expect(filter.caught).toEqual([thrown])
  })

  it.each(['key', 'tier'] as const)('another error from %s is a 500', async (callback) => {
    const thrown = new Error(`${callback} failed`)
    await build({
      [callback]: () => {
        throw thrown
      },
    })
    const answer = await send(app!, 'GET', '/cats')
    expect(answer.status).toBe(500)
    expect(JSON.parse(answer.body)).toEqual({ statusCode: 500, message: 'Internal server error' })
    expect(filter.caught).toEqual([thrown])
  })
})
