// docs/nestjs.md, "Limiting by user": authentication in a middleware applied before the limiter (per
// user buckets, on both platforms), why a key reading an AuthGuard's req.user does not work, and the
// page's RateLimitGuard and TooManyRequestsFilter (rate-limit.guard.ts).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { clientIpKey, fixedWindow, memoryStore, slidingWindow } from '@floodgate/core'
import { manualClock } from '@floodgate/core/testing'
import { rateLimit } from '@floodgate/express'
import { fastifyRateLimit } from '@floodgate/fastify'
import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  type INestApplication,
  Injectable,
  type MiddlewareConsumer,
  Module,
  type NestMiddleware,
  type NestModule,
  Req,
  UseFilters,
  UseGuards,
} from '@nestjs/common'
import type { NestExpressApplication } from '@nestjs/platform-express'
import type { NestFastifyApplication } from '@nestjs/platform-fastify'
import type { Request } from 'express'
import type { FastifyRequest } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { type Answer, expressApp, fastifyApp, rateLimitFields, send } from './apps.js'
import { clock, limiter, RateLimitGuard, TooManyRequestsFilter } from './rate-limit.guard.js'

declare global {
  namespace Express {
    interface Request {
      user?: { id: string }
    }
  }
}
type RawRequest = IncomingMessage & { user?: { id: string } }

/** The user an API key names: the key itself, for these tests. */
const userOf = (headers: IncomingMessage['headers']) => {
  const key = headers['x-api-key']
  return typeof key === 'string' ? { id: key } : undefined
}

@Injectable()
class AuthMiddleware implements NestMiddleware {
  use(req: RawRequest, _res: ServerResponse, next: () => void) {
    const user = userOf(req.headers)
    if (user) req.user = user
    next()
  }
}

@Injectable()
class AuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: IncomingMessage['headers']; user?: unknown }>()
    req.user = userOf(req.headers)
    return true
  }
}

@Controller('me')
class MeController {
  @Get()
  me(@Req() req: Request) {
    return { user: req.user?.id ?? null }
  }
}

@Controller('guarded')
@UseGuards(AuthGuard, RateLimitGuard)
@UseFilters(TooManyRequestsFilter)
class GuardedController {
  @Get()
  get() {
    return 'ok'
  }
}

@Controller('unfiltered')
@UseGuards(AuthGuard, RateLimitGuard)
class UnfilteredController {
  @Get()
  get() {
    return 'ok'
  }
}

const policies = slidingWindow({ limit: 3, window: '1 m' })

let app: INestApplication | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

const as = (user: string | undefined, url = '/me') =>
  send(app!, 'GET', url, user ? { 'x-api-key': user } : {})
const statuses = async (user: string | undefined, times: number, url?: string) => {
  const out: number[] = []
  for (let i = 0; i < times; i++) out.push((await as(user, url)).status)
  return out
}

describe('Express platform: an auth middleware applied before the limiter in configure()', () => {
  @Module({ controllers: [MeController] })
  class AppModule implements NestModule {
    configure(consumer: MiddlewareConsumer) {
      consumer
        .apply(
          AuthMiddleware,
          rateLimit({
            policies,
            store: memoryStore({ clock: manualClock(0) }),
            key: (req) => (req.user ? `user:${req.user.id}` : (clientIpKey(req.ip) ?? 'unknown-client')),
          }),
        )
        .forRoutes(MeController)
    }
  }

  it('gives each user a bucket, and clients without a user one by address', async () => {
    app = await expressApp(AppModule)
    expect(await statuses('alice', 4)).toEqual([200, 200, 200, 429])
    expect(await statuses('bob', 4)).toEqual([200, 200, 200, 429])
    expect(await statuses(undefined, 4)).toEqual([200, 200, 200, 429])
    expect(JSON.parse((await as('carol')).body)).toEqual({ user: 'carol' })
  })
})

describe('Express platform: a key reading the req.user an AuthGuard sets', () => {
  @Module({ controllers: [MeController] })
  class AppModule implements NestModule {
    configure(consumer: MiddlewareConsumer) {
      consumer
        .apply(
          rateLimit({
            policies,
            store: memoryStore({ clock: manualClock(0) }),
            key: (req) => (req.user ? `user:${req.user.id}` : 'no user yet'),
          }),
        )
        .forRoutes(MeController)
    }
  }

  it('finds it unset: every request counts under one key', async () => {
    app = await expressApp(AppModule, (a) => a.useGlobalGuards(new AuthGuard()))
    expect(await statuses('alice', 3)).toEqual([200, 200, 200])
    expect(await statuses('bob', 1)).toEqual([429])
    expect(await statuses(undefined, 1)).toEqual([429])
  })
})

describe("Fastify platform: Nest middleware sets the raw request's user, the key reads request.raw.user", () => {
  @Module({ controllers: [MeController] })
  class AppModule implements NestModule {
    configure(consumer: MiddlewareConsumer) {
      consumer.apply(AuthMiddleware).forRoutes(MeController)
    }
  }

  it('gives each user a bucket', async () => {
    app = await fastifyApp(AppModule, (a) =>
      a.register(fastifyRateLimit, {
        policies,
        store: memoryStore({ clock: manualClock(0) }),
        key: (request: FastifyRequest) => {
          const { user } = request.raw as RawRequest
          return user ? `user:${user.id}` : (clientIpKey(request.ip) ?? 'unknown-client')
        },
      }),
    )
    expect(await statuses('alice', 4)).toEqual([200, 200, 200, 429])
    expect(await statuses('bob', 4)).toEqual([200, 200, 200, 429])
    expect(await statuses(undefined, 4)).toEqual([200, 200, 200, 429])
  })
})

describe('the RateLimitGuard and TooManyRequestsFilter, after an authentication guard', () => {
  @Module({ controllers: [GuardedController, UnfilteredController] })
  class AppModule {}

  @Module({ controllers: [MeController] })
  class ReferenceModule {}

  afterEach(async () => {
    clock.set(0)
    for (const user of ['alice', 'bob']) await limiter.reset(`user:${user}`)
  })

  /** What the adapter on `platform` sends for the same limit, keyed by the same user. */
  async function adapterAnswers(
    platform: 'express' | 'fastify',
    user: string,
    times: number,
  ): Promise<Answer[]> {
    const options = {
      policies: fixedWindow({ limit: 3, window: '1 m' }),
      store: memoryStore({ clock: manualClock(0) }),
      key: (req: { headers: IncomingMessage['headers'] }) => `user:${userOf(req.headers)!.id}`,
    }
    const reference: NestExpressApplication | NestFastifyApplication =
      platform === 'express'
        ? await expressApp(ReferenceModule, (a) => a.use(rateLimit(options)))
        : await fastifyApp(ReferenceModule, (a) => a.register(fastifyRateLimit, options))
    const answers: Answer[] = []
    for (let i = 0; i < times; i++) answers.push(await send(reference, 'GET', '/me', { 'x-api-key': user }))
    await reference.close()
    return answers
  }

  describe.each(['express', 'fastify'] as const)('on %s', (platform) => {
    const start = (module: Parameters<typeof expressApp>[0]) =>
      platform === 'express' ? expressApp(module) : fastifyApp(module)

    it('limits each user, with the headers, the 429, Retry-After and problem body the adapter sends', async () => {
      app = await start(AppModule)
      const answers: Answer[] = []
      for (let i = 0; i < 4; i++) answers.push(await as('alice', '/guarded'))
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429])
      const expected = await adapterAnswers(platform, 'alice', 4)
      expect(answers.map(rateLimitFields)).toEqual(expected.map(rateLimitFields))
      const [denied, adapterDenied] = [answers[3]!, expected[3]!]
      expect(rateLimitFields(denied)['retry-after']).toBe('60')
      // The adapter's type, with the charset Express's res.send() and Fastify's reply.send() add to a string.
      expect(adapterDenied.headers['content-type']).toBe('application/problem+json')
      expect(denied.headers['content-type']).toBe('application/problem+json; charset=utf-8')
      expect(denied.headers['cache-control']).toBe(adapterDenied.headers['cache-control'])
      expect(JSON.parse(denied.body)).toEqual(JSON.parse(adapterDenied.body))
      expect(await statuses('bob', 1, '/guarded')).toEqual([200])
    })

    it("without the filter, Nest's default filter answers the 429 as application/json", async () => {
      app = await start(AppModule)
      await statuses('alice', 3, '/unfiltered')
      const denied = await as('alice', '/unfiltered')
      expect(denied.status).toBe(429)
      expect(denied.headers['content-type']).toBe('application/json; charset=utf-8')
      expect(denied.headers['retry-after']).toBe('60')
    })
  })
})
