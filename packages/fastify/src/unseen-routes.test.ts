import { fixedWindow, memoryStore } from '@floodgate/core'
import { manualClock } from '@floodgate/core/testing'
import fastify5 from 'fastify'
import fastify4 from 'fastify4'
import { describe, expect, it } from 'vitest'
import { fastifyRateLimit } from './index.js'

// Fastify runs onRoute hooks as a route is declared, while a plugin loads later: a route declared
// before the plugin loaded (`app.register(plugin)` without `await`, the usual Fastify style) never
// reaches the plugin's onRoute hook. It must be limited all the same, never silently left out.

const perMinute = (limit: number, name = 'fw') => fixedWindow({ name, limit, window: '1 m' })
/**
 * A memory store whose clock stands still: no minute's end can fall between a test's requests. Given
 * to a plugin, its routes' own limiters count in it too, each under a prefix of its own.
 */
const stillStore = () => memoryStore({ clock: manualClock(1_800_000_000_000) })

for (const [name, fastify] of [
  ['fastify 5', fastify5],
  ['fastify 4', fastify4 as unknown as typeof fastify5],
] as const) {
  type App = ReturnType<typeof fastify>
  const statuses = async (app: App, url: string, n: number) => {
    const result: number[] = []
    for (let i = 0; i < n; i++) result.push((await app.inject(url)).statusCode)
    return result
  }

  describe(`${name}: routes the plugin did not see being added`, () => {
    it('limits a route declared after a register that was not awaited', async () => {
      const app = fastify()
      // 15 s into a minute: the denial waits the other 45.
      const store = memoryStore({ clock: manualClock(1_800_000_015_000) })
      app.register(fastifyRateLimit, { policies: perMinute(2), store })
      app.get('/', async () => 'ok')
      await app.ready()
      expect(await statuses(app, '/', 3)).toEqual([200, 200, 429])
      const denied = await app.inject('/')
      expect(denied.headers['retry-after']).toBe('45')
      expect(denied.headers['ratelimit-policy']).toBe('"fw";q=2;w=60')
      await app.close()
    })

    it('still limits a route it did not see after a request it let through was answered before its hook', async () => {
      const app = fastify()
      app.get('/early', async () => 'ok')
      // An app-level preParsing hook added before the plugin's runs first: it answers /seen?stop after
      // the plugin's route-level hook has counted it, so the plugin's own preParsing hook never sees it.
      app.addHook('preParsing', async (request, reply) => {
        if ((request.query as Record<string, unknown>).stop !== undefined) await reply.code(401).send('no')
      })
      await app.register(fastifyRateLimit, { policies: perMinute(3), store: stillStore() })
      app.get('/seen', async () => 'ok')
      expect(await statuses(app, '/seen?stop', 1)).toEqual([401])
      // One budget of three for both routes: the 401 took the first.
      expect(await statuses(app, '/early', 3)).toEqual([200, 200, 429])
      expect(await statuses(app, '/seen', 1)).toEqual([429])
      await app.close()
    })

    it('limits a route declared before the plugin was registered', async () => {
      const app = fastify()
      app.get('/early', async () => 'ok')
      await app.register(fastifyRateLimit, { policies: perMinute(2), store: stillStore() })
      expect(await statuses(app, '/early', 3)).toEqual([200, 200, 429])
      await app.close()
    })

    it("applies such a route's own config.rateLimit, and leaves it alone when that is false", async () => {
      const app = fastify()
      app.register(fastifyRateLimit, { policies: perMinute(5), headers: 'legacy', store: stillStore() })
      app.get('/own', { config: { rateLimit: { policies: perMinute(1, 'own') } } }, async () => 'ok')
      app.get('/off', { config: { rateLimit: false } }, async () => 'ok')
      await app.ready()
      const first = await app.inject('/own')
      expect(first.headers['x-ratelimit-limit']).toBe('1')
      expect(await statuses(app, '/own', 1)).toEqual([429])
      expect(await statuses(app, '/off', 7)).toEqual([200, 200, 200, 200, 200, 200, 200])
      expect((await app.inject('/off')).headers['x-ratelimit-limit']).toBeUndefined()
      await app.close()
    })

    it('counts such a route declared for several methods as one route, as one it saw', async () => {
      const app = fastify()
      app.route({
        method: ['GET', 'POST'],
        url: '/both',
        config: { rateLimit: { policies: perMinute(2, 'own') } },
        handler: async () => 'ok',
      })
      await app.register(fastifyRateLimit, { policies: perMinute(10), store: stillStore() })
      const codes: number[] = []
      for (const method of ['GET', 'POST', 'GET'] as const)
        codes.push((await app.inject({ method, url: '/both' })).statusCode)
      expect(codes).toEqual([200, 200, 429])
      await app.close()
    })

    it("counts a prefixed plugin's root route and its trailing-slash twin as one such route", async () => {
      const app = fastify()
      app.register(
        async (child) => {
          child.get('/', { config: { rateLimit: { policies: perMinute(3, 'root') } } }, async () => 'ok')
        },
        { prefix: '/p' },
      )
      app.register(fastifyRateLimit, { policies: perMinute(100), store: stillStore() })
      await app.ready()
      const result: number[] = []
      for (let i = 0; i < 4; i++) result.push((await app.inject(i % 2 === 0 ? '/p' : '/p/')).statusCode)
      expect(result).toEqual([200, 200, 200, 429])
      await app.close()
    })

    it("counts a prefixed plugin's '' route and its '/' route under prefixTrailingSlash 'slash' apart", async () => {
      const app = fastify()
      app.register(
        async (child) => {
          // Each its own options, with policies of one name: counted by route, never shared.
          child.get('', { config: { rateLimit: { policies: perMinute(2) } } }, async () => 'bare')
          child.get(
            '/',
            { prefixTrailingSlash: 'slash', config: { rateLimit: { policies: perMinute(2) } } },
            async () => 'slash',
          )
        },
        { prefix: '/p' },
      )
      // On one store, as on Redis: the two route limiters' counters must not meet there.
      app.register(fastifyRateLimit, { policies: perMinute(100), store: stillStore(), logger: false })
      await app.ready()
      const result: number[] = []
      for (const url of ['/p', '/p', '/p/', '/p/', '/p', '/p/'])
        result.push((await app.inject(url)).statusCode)
      expect(result).toEqual([200, 200, 200, 200, 429, 429])
      await app.close()
    })

    it('counts two such routes of a prefixed plugin apart, on one shared store', async () => {
      const app = fastify()
      app.register(
        async (child) => {
          // Each its own options, with policies of one name: counted by route, never shared.
          child.get('/a', { config: { rateLimit: { policies: perMinute(1) } } }, async () => 'a')
          child.get('/b', { config: { rateLimit: { policies: perMinute(1) } } }, async () => 'b')
        },
        { prefix: '/p' },
      )
      app.register(fastifyRateLimit, { policies: perMinute(100), store: stillStore(), logger: false })
      await app.ready()
      const result: number[] = []
      for (const url of ['/p/a', '/p/b', '/p/a', '/p/b']) result.push((await app.inject(url)).statusCode)
      expect(result).toEqual([200, 200, 429, 429])
      await app.close()
    })

    it('counts HEAD requests to such a route with its GET requests, as on a route it saw', async () => {
      const app = fastify()
      app.get('/x', { config: { rateLimit: { policies: perMinute(2, 'own') } } }, async () => 'ok')
      await app.register(fastifyRateLimit, { policies: perMinute(10), store: stillStore() })
      const codes: number[] = []
      for (const method of ['GET', 'HEAD', 'GET'] as const)
        codes.push((await app.inject({ method, url: '/x' })).statusCode)
      expect(codes).toEqual([200, 200, 429])
      await app.close()
    })

    it("builds one limiter for such a route's own limits, however many requests it answers", async () => {
      const app = fastify()
      const lines: string[] = []
      app.get('/own', { config: { rateLimit: { policies: perMinute(2) } } }, async () => 'ok')
      await app.register(fastifyRateLimit, {
        policies: perMinute(10),
        store: stillStore(),
        logger: { warn: (line) => void lines.push(line) },
      })
      expect(await statuses(app, '/own', 3)).toEqual([200, 200, 429])
      // A limiter built again for each request would meet the last one's counters in the store.
      expect(lines.filter((l) => l.includes('SHARED_COUNTERS'))).toEqual([])
      await app.close()
    })

    // Such routes' limiters are found by the route a request matched, never by the path it asked
    // for: a client choosing its paths must not make the plugin build (and keep) a limiter each.
    it('builds no limiter per path: 5,000 paths to such a parametric route and 5,000 unknown ones leave one limiter each', async () => {
      const app = fastify()
      const store = memoryStore({ clock: manualClock(1_800_000_000_000) })
      app.get(
        '/items/:id',
        { config: { rateLimit: { policies: perMinute(100_000, 'items') } } },
        async () => 'ok',
      )
      const options = { config: { rateLimit: { policies: perMinute(100_000, 'nf') } } } as never
      app.setNotFoundHandler(options, async (_request, reply) => reply.code(404).send('none'))
      await app.register(fastifyRateLimit, { policies: perMinute(100_000), store })
      // One counter per limiter and policy in the store: the route's and the not-found handler's.
      const counters = () => (Reflect.get(store, 'slots') as Map<string, unknown>).size
      for (let i = 0; i < 5_000; i++) {
        expect((await app.inject(`/items/${i}?q=${i}`)).statusCode).toBe(200)
        expect((await app.inject(`/missing/${i}`)).statusCode).toBe(404)
      }
      expect(counters()).toBe(2)
      expect((await app.inject('/items/x')).headers['ratelimit-policy']).toBe('"items";q=100000;w=60')
      await app.close()
    })

    it("sends an error onLimited throws on such a route to the app's error handler", async () => {
      const app = fastify()
      app.setErrorHandler((error, _request, reply) => {
        reply
          .code((error as { statusCode?: number }).statusCode ?? 500)
          .send(`handled: ${(error as Error).message}`)
      })
      app.get('/early', async () => 'ok')
      await app.register(fastifyRateLimit, {
        policies: perMinute(1),
        store: stillStore(),
        onLimited: () => {
          throw Object.assign(new Error('slow down'), { statusCode: 429 })
        },
      })
      const answers = [await app.inject('/early'), await app.inject('/early')]
      expect(answers.map((a) => [a.statusCode, a.body])).toEqual([
        [200, 'ok'],
        [429, 'handled: slow down'],
      ])
      await app.close()
    })

    it("answers an invalid config.rateLimit on such a route through Fastify's error path, with its code", async () => {
      const app = fastify()
      app.register(fastifyRateLimit, { policies: perMinute(5) })
      app.get('/bad', { config: { rateLimit: 'none' as never } }, async () => 'ok')
      await app.ready()
      const answer = await app.inject('/bad')
      expect(answer.statusCode).toBe(500)
      expect(answer.json()).toMatchObject({ code: 'ERR_FLOODGATE_INVALID_OPTION' })
      await app.close()
    })

    it('counts requests for unknown paths (the not-found handler) under the plugin-wide limit', async () => {
      const app = fastify()
      await app.register(fastifyRateLimit, { policies: perMinute(2), store: stillStore() })
      app.get('/', async () => 'ok')
      expect(await statuses(app, '/nope', 3)).toEqual([404, 404, 429])
      expect(await statuses(app, '/', 1)).toEqual([429])
      await app.close()
    })

    it("gives a not-found handler's own config.rateLimit one limiter for every path and method it answers", async () => {
      const app = fastify()
      await app.register(fastifyRateLimit, { policies: perMinute(5), store: stillStore() })
      // Fastify takes a not-found handler's `config` (its types leave it out).
      const options = { config: { rateLimit: { policies: perMinute(3, 'nf') } } } as never
      app.setNotFoundHandler(options, async (_request, reply) => reply.code(404).send('none'))
      const answers: number[] = []
      for (const url of ['/a', '/a?x=1', '/b/c?y=2', '/d']) answers.push((await app.inject(url)).statusCode)
      answers.push((await app.inject({ method: 'POST', url: '/e' })).statusCode)
      expect(answers).toEqual([404, 404, 404, 429, 429])
      const denied = await app.inject('/f')
      expect(denied.headers['ratelimit-policy']).toBe('"nf";q=3;w=60')
      await app.close()
    })

    it('counts the not-found handlers of two prefixes apart, on one shared store', async () => {
      const app = fastify()
      await app.register(fastifyRateLimit, { policies: perMinute(5), store: stillStore() })
      const notFound =
        (name: string) =>
        async (_request: unknown, reply: { code(n: number): { send(b: string): unknown } }) =>
          reply.code(404).send(name)
      const options = { config: { rateLimit: { policies: perMinute(2, 'nf') } } } as never
      app.setNotFoundHandler(options, notFound('root'))
      await app.register(
        async (api) => {
          api.setNotFoundHandler(options, notFound('api'))
        },
        { prefix: '/api' },
      )
      const answers: string[] = []
      for (const url of ['/x', '/x', '/api/y', '/api/y', '/x', '/api/z']) {
        const answer = await app.inject(url)
        answers.push(`${answer.statusCode} ${answer.body.startsWith('{') ? 'limited' : answer.body}`)
      }
      expect(answers).toEqual(['404 root', '404 root', '404 api', '404 api', '429 limited', '429 limited'])
      await app.close()
    })

    it('leaves unknown paths alone when global is false', async () => {
      const app = fastify()
      await app.register(fastifyRateLimit, { global: false, policies: perMinute(1) })
      expect(await statuses(app, '/nope', 3)).toEqual([404, 404, 404])
      await app.close()
    })

    it('counts a route it saw once: its route hook decides and the app-level hook stands aside', async () => {
      const app = fastify()
      await app.register(fastifyRateLimit, { policies: perMinute(2), store: stillStore() })
      app.get('/', async () => 'ok')
      expect(await statuses(app, '/', 3)).toEqual([200, 200, 429])
      await app.close()
    })

    it("runs after app-level hooks added later, on a route it saw (an authentication hook's user)", async () => {
      const app = fastify()
      await app.register(fastifyRateLimit, {
        tiers: { free: [perMinute(1, 'free')], pro: [perMinute(3, 'pro')] },
        defaultTier: 'free',
        tier: (request) => (request.headers['x-plan'] === 'pro' ? 'pro' : 'free'),
        key: (request) => String((request as unknown as { user?: string }).user),
      })
      app.addHook('onRequest', async (request) => {
        ;(request as unknown as { user?: string }).user = 'ada'
        request.headers['x-plan'] = 'pro'
      })
      app.get('/', async (request) => request.rateLimit?.tier)
      const answer = await app.inject('/')
      expect(answer.body).toBe('pro')
      await app.close()
    })

    it('runs after app-level onRequest hooks added later, and before the body is read, on such a route', async () => {
      const app = fastify()
      app.register(fastifyRateLimit, {
        policies: perMinute(2),
        store: stillStore(),
        key: (request) => `user:${(request as unknown as { user: { id: string } }).user.id}`,
      })
      app.addHook('onRequest', async (request) => {
        ;(request as unknown as { user: { id: string } }).user = { id: String(request.headers['x-user']) }
      })
      let parsed = 0
      app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_request, body, done) => {
        parsed++
        done(null, body)
      })
      app.post('/', async (request) => request.rateLimit?.remaining)
      await app.ready()
      const post = (user: string) =>
        app.inject({
          method: 'POST',
          url: '/',
          headers: { 'x-user': user, 'content-type': 'text/plain' },
          payload: 'x',
        })
      const answers = [await post('ada'), await post('ada'), await post('ada'), await post('bob')]
      expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 429, 200])
      expect(answers.map((a) => a.body).slice(0, 2)).toEqual(['1', '0'])
      expect(parsed).toBe(3)
      await app.close()
    })

    it('derives the same counters in every process for such routes sharing one config object', async () => {
      // Two apps on one store stand for two processes; each is first asked for another route.
      const store = stillStore()
      const apps = [fastify(), fastify()]
      const shared = { rateLimit: { policies: perMinute(2) } }
      for (const app of apps) {
        app.register(fastifyRateLimit, { policies: perMinute(100), store, logger: false })
        app.get('/login', { config: shared }, async () => 'ok')
        app.get('/login/sso', { config: shared }, async () => 'ok')
        await app.ready()
      }
      const answers = [
        await statuses(apps[0]!, '/login', 2),
        await statuses(apps[1]!, '/login/sso', 1),
        await statuses(apps[1]!, '/login', 1),
      ].flat()
      expect(answers).toEqual([200, 200, 200, 429])
      for (const app of apps) await app.close()
    })

    it('leaves a route seen by one registration to that one, and limits it by another that did not see it', async () => {
      const app = fastify()
      await app.register(fastifyRateLimit, {
        policies: perMinute(5, 'first'),
        prefix: 'first',
        store: stillStore(),
      })
      app.register(fastifyRateLimit, {
        policies: perMinute(2, 'second'),
        prefix: 'second',
        store: stillStore(),
      })
      app.get('/', async () => 'ok')
      await app.ready()
      expect(await statuses(app, '/', 3)).toEqual([200, 200, 429])
      await app.close()
    })
  })
}
