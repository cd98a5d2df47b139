// docs/nestjs.md, "Shutdown": the page's RedisModule (redis.module.ts) quits its client in
// onApplicationShutdown, after the HTTP server has closed, and ends it when Redis is down; the
// Fastify plugin closes the limiters it created when the app closes.
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { memoryStore, slidingWindow } from '@floodgate/core'
import { redisStore } from '@floodgate/core/redis'
import { rateLimit } from '@floodgate/express'
import { fastifyRateLimit } from '@floodgate/fastify'
import { describeRedis, findFreePort } from '@floodgate/tools'
import {
  Inject,
  Injectable,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  type OnApplicationShutdown,
  type OnModuleDestroy,
} from '@nestjs/common'
import type { NestExpressApplication } from '@nestjs/platform-express'
import type { Redis } from 'ioredis'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { CatsController } from './app.module.js'
import { expressApp, fastifyApp, send } from './apps.js'
import { REDIS, RedisModule } from './redis.module.js'

/** Whether the app's HTTP server was still listening when each hook ran. */
const listeningIn: Record<string, boolean> = {}
let server: { listening: boolean } | undefined

@Injectable()
class Hooks implements OnModuleDestroy, OnApplicationShutdown {
  onModuleDestroy() {
    listeningIn.onModuleDestroy = server!.listening
  }
  onApplicationShutdown() {
    listeningIn.onApplicationShutdown = server!.listening
  }
}

let savedUrl: string | undefined
beforeEach(() => {
  savedUrl = process.env.REDIS_URL
})
afterEach(() => {
  if (savedUrl === undefined) delete process.env.REDIS_URL
  else process.env.REDIS_URL = savedUrl
})

/** Whether a client closing its connection ends, or goes on to reconnect. */
function endOrReconnect(redis: Redis): Promise<'end' | 'reconnecting'> {
  if (redis.status === 'end') return Promise.resolve('end')
  return new Promise((resolve) => {
    redis.once('end', () => resolve('end'))
    redis.once('reconnecting', () => resolve('reconnecting'))
  })
}

describeRedis('the RedisModule, with Redis up', (redisUrl) => {
  @Module({ imports: [RedisModule], controllers: [CatsController], providers: [Hooks] })
  class AppModule implements NestModule {
    constructor(@Inject(REDIS) private readonly redis: Redis) {}

    configure(consumer: MiddlewareConsumer) {
      consumer
        .apply(
          rateLimit({
            policies: slidingWindow({ limit: 100, window: '1 m' }),
            store: redisStore({ client: this.redis }),
            prefix: `nest-${randomUUID()}`,
          }),
        )
        .forRoutes(CatsController)
    }
  }

  it('counts in Redis, and app.close() quits the client once the HTTP server has closed', async () => {
    process.env.REDIS_URL = redisUrl
    const app = await expressApp(AppModule)
    await app.listen(0, '127.0.0.1')
    server = app.getHttpServer()
    const redis = app.get<Redis>(REDIS)
    // Without an offline queue, a request before the client is ready is let through uncounted.
    if (redis.status !== 'ready') await once(redis, 'ready')
    const answer = await send(app, 'GET', '/cats')
    expect(answer.status).toBe(200)
    expect(answer.headers['x-ratelimit-remaining']).toBe('99')
    const quit = redis.quit.bind(redis)
    const listeningAtQuit: boolean[] = []
    redis.quit = (...args: Parameters<Redis['quit']>) => {
      listeningAtQuit.push(server!.listening)
      return quit(...args)
    }
    await app.close()
    expect(await endOrReconnect(redis)).toBe('end')
    expect(listeningAtQuit).toEqual([false])
    expect(listeningIn).toEqual({ onModuleDestroy: true, onApplicationShutdown: false })
  })
})

describe('the RedisModule, with Redis down', () => {
  @Module({ imports: [RedisModule] })
  class AppModule {}

  afterEach(() => {
    vi.useRealTimers()
  })

  it('app.close() leaves the client no reconnection to make', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }) // the client's retry timer among them
    process.env.REDIS_URL = `redis://127.0.0.1:${await findFreePort()}` // nothing listens there
    const app: NestExpressApplication = await expressApp(AppModule)
    const redis = app.get<Redis>(REDIS)
    redis.on('error', () => {}) // ECONNREFUSED, expected
    try {
      // Refused, the client waits to retry.
      if (redis.status !== 'reconnecting') await new Promise((resolve) => redis.once('reconnecting', resolve))
      await app.close()
      const after: string[] = []
      for (const event of ['connecting', 'connect', 'reconnecting']) redis.on(event, () => after.push(event))
      vi.runAllTimers() // the retry it had scheduled, unless app.close() cancelled it
      await new Promise((resolve) => setImmediate(resolve))
      expect(after).toEqual([])
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      redis.disconnect()
    }
  })
})

describe('app.close() on the Fastify platform', () => {
  @Module({ controllers: [CatsController] })
  class AppModule {}

  /** An app with the plugin on `store`, and the warnings its limiters give. */
  async function appOn(store: ReturnType<typeof memoryStore>, warnings: string[]) {
    const app = await fastifyApp(AppModule, (a) =>
      a.register(fastifyRateLimit, {
        policies: slidingWindow({ limit: 100, window: '1 m' }),
        store,
        logger: { warn: (message) => warnings.push(message) },
      }),
    )
    expect((await send(app, 'GET', '/cats')).status).toBe(200)
    return app
  }

  it('closes the limiters the plugin created: a next app on the store shares counters with none', async () => {
    const warnings: string[] = []
    const store = memoryStore()
    await (await appOn(store, warnings)).close()
    const next = await appOn(store, warnings)
    await next.close()
    expect(warnings).toEqual([])
  })

  it('(while one is open, the next app on the store is told it shares its counters)', async () => {
    const warnings: string[] = []
    const store = memoryStore()
    const open = await appOn(store, warnings)
    const next = await appOn(store, warnings)
    await Promise.all([open.close(), next.close()])
    expect(warnings).toEqual([expect.stringContaining('WARN_FLOODGATE_SHARED_COUNTERS')])
  })
})
