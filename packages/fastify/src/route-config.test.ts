import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import { createRateLimiter, fixedWindow, memoryStore, type RateLimitStore } from '@floodgate/core'
import { manualClock } from '@floodgate/core/testing'
import { fromUpstash } from '@floodgate/core/upstash'
import fastify5 from 'fastify'
import fastify4 from 'fastify4'
import { describe, expect, it } from 'vitest'
import { fastifyRateLimit } from './index.js'

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
  describe(`${name} plugin and route config`, () => {
    const statuses = async (
      app: ReturnType<typeof fastify>,
      method: 'GET' | 'HEAD' | 'POST',
      url: string,
      n: number,
    ) => {
      const result: number[] = []
      for (let i = 0; i < n; i++) result.push((await app.inject({ method, url })).statusCode)
      return result
    }

    it('limits only routes with config.rateLimit when global is false', async () => {
      const app = fastify()
      await app.register(fastifyRateLimit, { global: false, headers: 'legacy', store: stillStore() })
      app.get('/free', async () => 'ok')
      app.get('/limited', { config: { rateLimit: { policies: perMinute(2) } } }, async () => 'ok')
      expect(await statuses(app, 'GET', '/free', 4)).toEqual([200, 200, 200, 200])
      const limited = await app.inject('/limited')
      // The route inherits the plugin's `headers`, with its own policies.
      expect(limited.headers['x-ratelimit-limit']).toBe('2')
      expect(limited.headers.ratelimit).toBeUndefined()
      expect(await statuses(app, 'GET', '/limited', 2)).toEqual([200, 429])
      await app.close()
    })

    it("gives a route's own limits the store and mode of the plugin's limiter", async () => {
      // Two apps on one store, as two processes on one Redis: the route counts in that store, not
      // in a memory store of its own in each.
      const store = stillStore()
      const app = async (mode: 'enforce' | 'shadow') => {
        const instance = fastify()
        const limiter = createRateLimiter({ policies: perMinute(100), store, mode, prefix: `fg-${mode}` })
        await instance.register(fastifyRateLimit, { limiter })
        instance.get('/own', { config: { rateLimit: { policies: perMinute(2) } } }, async (request) => ({
          reason: request.rateLimit?.reason,
        }))
        return instance
      }
      const [first, second] = [await app('enforce'), await app('enforce')]
      expect(await statuses(first, 'GET', '/own', 2)).toEqual([200, 200])
      expect(await statuses(second, 'GET', '/own', 1)).toEqual([429])
      // In shadow mode, the route's limits report but never deny.
      const shadow = await app('shadow')
      const reasons: unknown[] = []
      for (let i = 0; i < 3; i++) {
        const response = await shadow.inject('/own')
        expect(response.statusCode).toBe(200)
        reasons.push(response.json().reason)
      }
      expect(reasons).toEqual(['allowed', 'allowed', 'shadow-limited'])
      await Promise.all([first.close(), second.close(), shadow.close()])
    })

    it('takes an option a route leaves undefined from the plugin, as one it does not name', async () => {
      // `mode: process.env.RL_MODE` with the variable unset: the plugin's shadow mode still applies.
      const app = fastify()
      await app.register(fastifyRateLimit, { policies: perMinute(100), mode: 'shadow', store: stillStore() })
      const own = { policies: perMinute(1), mode: undefined, prefix: undefined }
      app.get('/own', { config: { rateLimit: own } }, async (request) => ({
        reason: request.rateLimit?.reason,
      }))
      const answers = [await app.inject('/own'), await app.inject('/own')]
      expect(answers.map((r) => [r.statusCode, r.json().reason])).toEqual([
        [200, 'allowed'],
        [200, 'shadow-limited'],
      ])
      await app.close()
    })

    it("keeps a route's own limits in counters of its own when the plugin gives one store", async () => {
      const app = fastify()
      const store = stillStore()
      const lines: string[] = []
      const logger = { warn: (line: string) => void lines.push(line) }
      await app.register(fastifyRateLimit, { policies: perMinute(10, 'fixed-window'), store, logger })
      // Policies of the default name, as the plugin's: without counters of their own they would
      // share the plugin's (and each other's).
      const own = () => ({ config: { rateLimit: { policies: fixedWindow({ limit: 3, window: '1 m' }) } } })
      app.get('/', async () => 'ok')
      app.get('/search', own(), async () => 'ok')
      app.post('/search', own(), async () => 'ok')
      app.get('/export', own(), async () => 'ok')
      expect(await statuses(app, 'GET', '/', 10)).toEqual(Array(10).fill(200))
      expect(await statuses(app, 'GET', '/search', 4)).toEqual([200, 200, 200, 429])
      expect(await statuses(app, 'HEAD', '/search', 1)).toEqual([429])
      expect((await app.inject({ method: 'POST', url: '/search' })).statusCode).toBe(200)
      expect(await statuses(app, 'GET', '/export', 3)).toEqual([200, 200, 200])
      expect(await statuses(app, 'GET', '/', 1)).toEqual([429])
      expect(lines.filter((l) => l.includes('SHARED_COUNTERS'))).toEqual([])
      await app.close()
    })

    it("reports an invalid plugin prefix as the user wrote it, on a route's own limiter too", async () => {
      for (const prefix of ['', 'my app', 'x'.repeat(100)]) {
        const app = fastify()
        await app.register(fastifyRateLimit, { global: false, prefix })
        expect(() =>
          app.get('/x', { config: { rateLimit: { policies: perMinute(2) } } }, async () => 'ok'),
        ).toThrow(expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', value: prefix }))
        await app.close()
      }
    })

    it("gives a route's own limiter under the longest plugin prefix a prefix of the longest length", async () => {
      const prefix = 'p'.repeat(64)
      const store = stillStore()
      const prefixes: string[] = []
      const seen: RateLimitStore = {
        name: 'seen',
        local: true,
        consume: (r) => {
          prefixes.push(r.prefix)
          return store.consume(r)
        },
        reset: (r) => store.reset(r),
        close: () => store.close(),
      }
      const app = fastify()
      await app.register(fastifyRateLimit, { global: false, prefix, store: seen, logger: false })
      app.get('/x', { config: { rateLimit: { policies: perMinute(2) } } }, async () => 'ok')
      expect(await statuses(app, 'GET', '/x', 3)).toEqual([200, 200, 429])
      // As much of the plugin's prefix as fits beside the route's digest, in 64 characters.
      expect(prefixes[0]).toMatch(/^p{45}:route:[0-9a-f]{12}$/)
      await app.close()
    })

    it('keeps an explicit HEAD route with a config of its own apart from the GET route', async () => {
      const app = fastify({ exposeHeadRoutes: false })
      await app.register(fastifyRateLimit, { policies: perMinute(10), store: stillStore(), logger: false })
      app.get('/x', { config: { rateLimit: { policies: perMinute(2) } } }, async () => 'ok')
      app.head('/x', { config: { rateLimit: { policies: perMinute(2) } } }, async () => '')
      expect(await statuses(app, 'GET', '/x', 3)).toEqual([200, 200, 429])
      expect(await statuses(app, 'HEAD', '/x', 3)).toEqual([200, 200, 429])
      await app.close()
    })

    it('shares counters between routes given one config object, or a prefix of their own in common', async () => {
      const app = fastify()
      const store = stillStore()
      await app.register(fastifyRateLimit, { policies: perMinute(10), store, logger: false })
      const group = { rateLimit: { policies: perMinute(2, 'group') } }
      app.get('/a', { config: group }, async () => 'ok')
      app.get('/b', { config: group }, async () => 'ok')
      const named = () => ({
        config: { rateLimit: { policies: perMinute(2, 'named'), prefix: 'shared-by-name' } },
      })
      app.get('/c', named(), async () => 'ok')
      app.get('/d', named(), async () => 'ok')
      expect([...(await statuses(app, 'GET', '/a', 1)), ...(await statuses(app, 'GET', '/b', 2))]).toEqual([
        200, 200, 429,
      ])
      expect([...(await statuses(app, 'GET', '/c', 1)), ...(await statuses(app, 'GET', '/d', 2))]).toEqual([
        200, 200, 429,
      ])
      await app.close()
    })

    it('gives a GET route and its automatic HEAD route one limiter', async () => {
      const app = fastify()
      await app.register(fastifyRateLimit, { policies: perMinute(3), store: stillStore() })
      app.get('/x', { config: { rateLimit: { policies: perMinute(3, 'x') } } }, async () => 'ok')
      expect(await statuses(app, 'GET', '/x', 2)).toEqual([200, 200])
      expect(await statuses(app, 'HEAD', '/x', 2)).toEqual([200, 429])
      await app.close()
    })

    it('answers the default 429 when onLimited neither replies nor throws', async () => {
      const app = fastify()
      let called = 0
      await app.register(fastifyRateLimit, {
        policies: perMinute(1),
        store: stillStore(),
        onLimited: () => void called++,
      })
      let handled = 0
      app.get('/', async () => {
        handled++
        return 'ok'
      })
      await app.inject('/')
      const denied = await app.inject('/')
      expect(denied.statusCode).toBe(429)
      expect(denied.headers['content-type']).toBe('application/problem+json')
      expect([called, handled]).toEqual([1, 1])
      await app.close()
    })

    it('sends the 429 body as given: no charset added, a content-length that matches it', async () => {
      const app = fastify()
      await app.register(fastifyRateLimit, { policies: perMinute(1), store: stillStore() })
      app.get('/', async () => 'ok')
      await app.inject('/')
      const denied = await app.inject('/')
      expect(denied.headers['content-type']).toBe('application/problem+json')
      expect(denied.headers['content-length']).toBe(String(Buffer.byteLength(denied.body)))
      expect(JSON.parse(denied.body)).toMatchObject({ status: 429, 'violated-policies': ['fw'] })
      await app.close()
    })

    it("serialises an error handler's object as JSON when an onSend hook throws on the 429", async () => {
      const app = fastify()
      await app.register(fastifyRateLimit, { policies: perMinute(1), store: stillStore() })
      app.addHook('onSend', async (_request, reply, payload) => {
        if (reply.statusCode === 429) throw new Error('onSend failed')
        return payload
      })
      app.setErrorHandler((error, _request, reply) => {
        reply.code(500).send({ failed: (error as Error).message })
      })
      app.get('/', async () => 'ok')
      await app.inject('/')
      const failed = await app.inject('/')
      expect(failed.statusCode).toBe(500)
      expect(JSON.parse(failed.body)).toEqual({ failed: 'onSend failed' })
      await app.close()
    })

    /**
     * An app with two routes of /items told apart by a version constraint, limits 2 and 5, on one
     * store; the plugin registered with `await` or not (then it loads after the routes).
     */
    const versionedApp = async (awaited: boolean) => {
      const store = memoryStore({ clock: manualClock(1_800_000_020_000) })
      const app = fastify()
      const registered = app.register(fastifyRateLimit, { global: false, store, headers: 'legacy' })
      if (awaited) await registered
      for (const [version, limit] of [
        ['1.0.0', 2],
        ['2.0.0', 5],
      ] as const) {
        app.get(
          '/items',
          { constraints: { version }, config: { rateLimit: { policies: perMinute(limit) } } },
          async () => version,
        )
      }
      const get = (version: string) => app.inject({ url: '/items', headers: { 'accept-version': version } })
      return { app, get }
    }

    it('counts apart routes of one URL told apart by constraints (a version), on one store', async () => {
      const { app, get } = await versionedApp(true)
      expect((await get('1.0.0')).headers['x-ratelimit-remaining']).toBe('1')
      expect((await get('1.0.0')).headers['x-ratelimit-remaining']).toBe('0')
      expect((await get('1.0.0')).statusCode).toBe(429)
      // Version 2's own count: nothing of version 1's three requests.
      const second = await get('2.0.0')
      expect(second.body).toBe('2.0.0')
      expect(second.headers['x-ratelimit-remaining']).toBe('4')
      await app.close()
    })

    it('counts apart routes of one URL told apart by host patterns (RegExps), on one store', async () => {
      const app = fastify()
      await app.register(fastifyRateLimit, { policies: perMinute(100), store: stillStore(), logger: false })
      for (const host of [/^a\./, /^b\./]) {
        // Each its own options, with policies of one name: only the route's name keeps them apart.
        const config = { rateLimit: { policies: perMinute(1) } }
        app.get('/', { constraints: { host }, config }, async () => String(host))
      }
      const codes: number[] = []
      for (const host of ['a.example', 'b.example', 'a.example'])
        codes.push((await app.inject({ url: '/', headers: { host } })).statusCode)
      expect(codes).toEqual([200, 200, 429])
      await app.close()
    })

    it("names a route's counters by the plugin's prefix and a digest of the route: the same in every process and release", async () => {
      // Counters persist in a shared store: renaming them would restart every route's counts.
      const prefixes = new Set<string>()
      const inner = stillStore()
      const store: RateLimitStore = {
        name: 'spy',
        local: true,
        consume: (request) => {
          prefixes.add(request.prefix)
          return inner.consume(request)
        },
        reset: (request) => inner.reset(request),
        close: () => inner.close(),
      }
      const app = fastify()
      const own = () => ({ rateLimit: { policies: perMinute(5) } })
      // Declared before the plugin loaded: named from its request.
      app.get('/', { config: own() }, async () => 'ok')
      await app.register(fastifyRateLimit, { policies: perMinute(10), store })
      app.route({ method: ['POST', 'GET'], url: '/x', config: own(), handler: async () => 'ok' })
      const constraints = { version: '1.0.0', host: 'a.example' }
      app.get('/v', { constraints, config: own() }, async () => 'ok')
      await app.inject('/')
      await app.inject('/x')
      await app.inject({ url: '/v', headers: { 'accept-version': '1.0.0', host: 'a.example' } })
      const digest = (route: string) =>
        `floodgate:route:${createHash('sha256').update(`floodgate\0${route}`).digest('hex').slice(0, 12)}`
      expect([...prefixes]).toEqual([
        digest('GET /'),
        digest('GET,POST /x'),
        digest('GET /v (host=a.example, version=1.0.0)'),
      ])
      await app.close()
    })

    it('keeps the limits of each route of one URL told apart by constraints, declared before the plugin loaded', async () => {
      const { app, get } = await versionedApp(false)
      const first = await get('2.0.0')
      expect([first.body, first.headers['x-ratelimit-limit']]).toEqual(['2.0.0', '5'])
      // Each with its own limit, on the counters of their one name (constraints are not known
      // here): version 2's request is counted there too.
      const v1 = [await get('1.0.0'), await get('1.0.0')]
      expect(v1.map((r) => [r.statusCode, r.headers['x-ratelimit-limit']])).toEqual([
        [200, '2'],
        [429, '2'],
      ])
      await app.close()
    })

    it('accepts being registered twice in one scope, counting each request once per limiter', async () => {
      const clock = manualClock(1_800_000_020_000)
      const store = memoryStore({ clock })
      const app = fastify()
      await app.register(fastifyRateLimit, { policies: perMinute(5), store })
      await app.register(fastifyRateLimit, { policies: perMinute(2, 'second'), store })
      app.get('/', async () => 'ok')
      const first = await app.inject('/')
      expect(first.headers.ratelimit).toBe('"second";r=1;t=40')
      expect(await statuses(app, 'GET', '/', 2)).toEqual([200, 429])
      await app.close()
    })

    it("counts a route's own limits once per plugin, registered at the root and again inside a plugin, on one store", async () => {
      for (const prefix of ['/api', '']) {
        const store = memoryStore({ clock: manualClock(1_800_000_020_000) })
        const app = fastify()
        await app.register(fastifyRateLimit, { policies: perMinute(100, 'app'), store })
        await app.register(
          async (api) => {
            await api.register(fastifyRateLimit, { policies: perMinute(50, 'api'), store })
            api.post(
              '/login',
              { config: { rateLimit: { policies: perMinute(4, 'login') } } },
              async () => 'ok',
            )
          },
          { prefix },
        )
        // Each plugin builds a limiter from the route's options; each counts a request once, in a
        // counter of its own: 4 logins, not 2.
        expect(await statuses(app, 'POST', `${prefix}/login`, 5)).toEqual([200, 200, 200, 200, 429])
        await app.close()
      }
    })

    it("leaves the plugin's tier callback out of a route whose policies, or tierless limiter, replace its tiers", async () => {
      const warnings: string[] = []
      const logger = { warn: (line: string) => void warnings.push(line) }
      const limiter = createRateLimiter({ policies: perMinute(3, 'own'), store: stillStore(), logger })
      const app = fastify()
      await app.register(fastifyRateLimit, {
        tiers: { free: perMinute(2), pro: perMinute(5) },
        defaultTier: 'free',
        tier: () => 'pro',
        store: stillStore(),
        logger,
      })
      app.get('/', async () => 'ok')
      app.get('/flat', { config: { rateLimit: { policies: perMinute(3, 'flat') } } }, async () => 'ok')
      app.get('/own', { config: { rateLimit: { limiter } } }, async () => 'ok')
      for (const route of ['/flat', '/own']) {
        expect(await statuses(app, 'GET', route, 4)).toEqual([200, 200, 200, 429])
      }
      expect((await app.inject('/')).headers['x-ratelimit-limit']).toBe('5')
      expect(warnings).toEqual([])
      await app.close()
      await limiter.close()
    })

    it('numbers the registrations of an app built again on the same server from 0 again', async () => {
      const store = memoryStore({ clock: manualClock(1_800_000_020_000) })
      const server = createServer()
      const build = async () => {
        const app = fastify({ serverFactory: (handler) => server.on('request', handler) as never })
        await app.register(fastifyRateLimit, { global: false, store })
        app.get('/login', { config: { rateLimit: { policies: perMinute(4, 'login') } } }, async () => 'ok')
        return app
      }
      const first = await build()
      expect(await statuses(first, 'GET', '/login', 2)).toEqual([200, 200])
      await first.close()
      server.removeAllListeners('request')
      // The reload counts in the same counters as before, and as a fresh process would.
      const again = await build()
      expect(await statuses(again, 'GET', '/login', 3)).toEqual([200, 200, 429])
      await again.close()
    })

    it("lets a route that changes only callbacks count in the plugin's own limiter", async () => {
      const limiter = createRateLimiter({
        policies: perMinute(10),
        store: memoryStore({ clock: manualClock(1_800_000_020_000) }),
      })
      const app = fastify()
      await app.register(fastifyRateLimit, { limiter, headers: 'legacy' })
      app.get('/', async () => 'ok')
      app.get('/bulk', { config: { rateLimit: { cost: () => 5 } } }, async () => 'ok')
      expect((await app.inject('/bulk')).headers['x-ratelimit-remaining']).toBe('5')
      expect((await app.inject('/')).headers['x-ratelimit-remaining']).toBe('4')
      expect((await app.inject('/bulk')).statusCode).toBe(429)
      await app.close()
    })
  })
}

describe('fastifyRateLimit options', () => {
  it('rejects a misspelt option at registration even when global is false', async () => {
    const app = fastify5()
    await expect(
      app.register(fastifyRateLimit, { global: false, heders: false } as never),
    ).rejects.toMatchObject({
      code: 'ERR_FLOODGATE_UNKNOWN_OPTION',
    })
    await app.close()
  })

  it('rejects a limiter that is not one at registration, with global true or false', async () => {
    for (const [global, given] of [
      [true, {}],
      [false, {}],
      [false, { limit: async () => undefined }],
    ] as const) {
      const app = fastify5()
      await expect(app.register(fastifyRateLimit, { global, limiter: given } as never)).rejects.toMatchObject(
        { code: 'ERR_FLOODGATE_INVALID_OPTION', option: 'limiter' },
      )
      await app.close()
    }
    // Nor with limiter options beside it, which a given limiter would ignore.
    const app = fastify5()
    const limiter = createRateLimiter({ policies: perMinute(1), store: stillStore() })
    await expect(
      app.register(fastifyRateLimit, { global: false, limiter, policies: perMinute(2) } as never),
    ).rejects.toMatchObject({ code: 'ERR_FLOODGATE_INVALID_OPTION', option: 'policies' })
    await app.close()
    await limiter.close()
  })

  it('names the plugin or the route in an unknown-option message, and knows global', async () => {
    for (const global of [true, false]) {
      const app = fastify5()
      await expect(
        app.register(fastifyRateLimit, { global, policies: perMinute(1), Global: false } as never),
      ).rejects.toThrow(
        /Unknown option "Global" in fastifyRateLimit\(\)\. Did you mean `global`\? Known options: .*, global\./,
      )
      await app.close()
    }
    const app = fastify5()
    await app.register(fastifyRateLimit, { policies: perMinute(1) })
    expect(() =>
      app.get('/x', { config: { rateLimit: { timeWindow: 1000 } as never } }, async () => 'ok'),
    ).toThrow(
      /Unknown option "timeWindow" in the config.rateLimit of route GET \/x\. It is another rate limiter's option\./,
    )
    await app.close()
  })

  it('rejects a global that is not a boolean at registration, with a code', async () => {
    const app = fastify5()
    await expect(app.register(fastifyRateLimit, { global: 'yes' } as never)).rejects.toMatchObject({
      code: 'ERR_FLOODGATE_INVALID_OPTION',
      option: 'global',
      message: expect.stringContaining('got "yes"'),
    })
    await app.close()
    // A value JSON cannot show is named by its type.
    const again = fastify5()
    await expect(again.register(fastifyRateLimit, { global: () => true } as never)).rejects.toMatchObject({
      message: expect.stringContaining('got function;'),
    })
    await again.close()
  })

  it("refuses global in a route's config.rateLimit: an option of the plugin's only", async () => {
    const app = fastify5()
    await app.register(fastifyRateLimit, { policies: perMinute(1) })
    expect(() =>
      app.get('/x', { config: { rateLimit: { global: false } as never } }, async () => 'ok'),
    ).toThrow(/Unknown option "global" in the config.rateLimit of route GET \/x/)
    await app.close()
  })

  it("accepts Fastify's own register options beside Floodgate's (logLevel, logSerializers)", async () => {
    const app = fastify5()
    await app.register(fastifyRateLimit, {
      policies: fixedWindow({ limit: 1, window: '1 m' }),
      store: stillStore(),
      logLevel: 'warn',
      logSerializers: {},
    } as never)
    app.get('/', async () => 'ok')
    expect((await app.inject('/')).statusCode).toBe(200)
    expect((await app.inject('/')).statusCode).toBe(429)
    await app.close()
  })

  it("refuses a route's own limits under a fromUpstash limiter, which has no store to count them in, unless it gives one or a limiter", async () => {
    // A stand-in for @upstash/ratelimit's Ratelimit: nothing is called here, only the options checked.
    const ratelimit = {
      limit: async () => ({ success: true, limit: 5, remaining: 4, reset: 0, pending: Promise.resolve() }),
    }
    const app = fastify5()
    await app.register(fastifyRateLimit, { limiter: fromUpstash(ratelimit as never, { window: '1 m' }) })
    expect(() =>
      app.get(
        '/own',
        { config: { rateLimit: { policies: fixedWindow({ limit: 2, window: '1 m' }) } } },
        async () => 'ok',
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'ERR_FLOODGATE_INVALID_OPTION',
        message: expect.stringMatching(
          /route GET \/own.*decides through Upstash Ratelimit.*Give the route a `store`/s,
        ),
      }),
    )
    // With a store of its own, the route counts there.
    app.get(
      '/stored',
      { config: { rateLimit: { policies: fixedWindow({ limit: 1, window: '1 m' }), store: stillStore() } } },
      async () => 'ok',
    )
    // With a limiter of its own, the route needs nothing of the plugin's.
    const own = createRateLimiter({ policies: fixedWindow({ limit: 1, window: '1 m' }), store: stillStore() })
    app.get('/limiter', { config: { rateLimit: { limiter: own } } }, async () => 'ok')
    expect([(await app.inject('/stored')).statusCode, (await app.inject('/stored')).statusCode]).toEqual([
      200, 429,
    ])
    expect([(await app.inject('/limiter')).statusCode, (await app.inject('/limiter')).statusCode]).toEqual([
      200, 429,
    ])
    await own.close()
    await app.close()
  })

  it('rejects a route config.rateLimit that is neither options nor false, with a code, when the route is added', async () => {
    for (const [value, shown] of [
      [true, 'true'],
      ['off', '"off"'],
      [null, 'null'],
      [5, '5'],
      [[fixedWindow({ limit: 1, window: '1 m' })], 'an array'],
      [() => false, 'a function'],
    ] as const) {
      const app = fastify5()
      await app.register(fastifyRateLimit, { policies: fixedWindow({ limit: 1, window: '1 m' }) })
      expect(() => app.get('/', { config: { rateLimit: value as never } }, async () => 'ok')).toThrow(
        expect.objectContaining({
          code: 'ERR_FLOODGATE_INVALID_OPTION',
          option: 'config.rateLimit',
          message: expect.stringContaining(`of route GET /: got ${shown};`),
        }),
      )
      await app.close()
    }
  })
})

for (const [name, fastify] of [
  ['fastify 5', fastify5],
  ['fastify 4', fastify4 as unknown as typeof fastify5],
] as const) {
  describe(`${name}: a route's own tiers, and an onLimited that answered`, () => {
    const statuses = async (app: ReturnType<typeof fastify>, url: string, n: number) => {
      const result: number[] = []
      for (let i = 0; i < n; i++) result.push((await app.inject({ method: 'GET', url })).statusCode)
      return result
    }

    it("keeps the plugin's tier callback for a route that gives tiers of its own", async () => {
      const app = fastify()
      await app.register(fastifyRateLimit, {
        tiers: { free: perMinute(2), pro: perMinute(5) },
        defaultTier: 'free',
        tier: () => 'pro',
        store: stillStore(),
      })
      const tiers = { free: perMinute(1, 'route'), pro: perMinute(3, 'route') }
      app.get('/tiered', { config: { rateLimit: { tiers, defaultTier: 'free' } } }, async () => 'ok')
      // The plugin's tier() names 'pro' here too: 3 requests, not the default tier's 1.
      expect(await statuses(app, '/tiered', 4)).toEqual([200, 200, 200, 429])
      await app.close()
    })

    it("keeps the plugin's tier callback for a route whose own limiter has tiers", async () => {
      const limiter = createRateLimiter({
        tiers: { free: perMinute(1, 'route'), pro: perMinute(3, 'route') },
        defaultTier: 'free',
        store: stillStore(),
        logger: false,
      })
      const app = fastify()
      await app.register(fastifyRateLimit, {
        tiers: { free: perMinute(2), pro: perMinute(5) },
        defaultTier: 'free',
        tier: () => 'pro',
      })
      app.get('/tiered', { config: { rateLimit: { limiter } } }, async () => 'ok')
      // The plugin's tier() names 'pro', a tier the route's limiter has: 3 requests, not free's 1.
      expect(await statuses(app, '/tiered', 4)).toEqual([200, 200, 200, 429])
      await app.close()
      await limiter.close()
    })

    it('sends nothing more after an onLimited that answered: no "reply already sent" warning', async () => {
      const lines: string[] = []
      const stream = { write: (line: string) => void lines.push(line) }
      const app = fastify({ logger: { level: 'warn', stream } })
      await app.register(fastifyRateLimit, {
        policies: perMinute(1),
        store: stillStore(),
        onLimited: async (_request, reply) => {
          await reply.code(503).send('busy')
        },
      })
      app.get('/', async () => 'ok')
      expect((await app.inject('/')).statusCode).toBe(200)
      const limited = await app.inject('/')
      expect([limited.statusCode, limited.body]).toEqual([503, 'busy'])
      expect(lines).toEqual([])
      await app.close()
    })

    it('closes the limiters it made with the app: one built again on the same store shares no counters with it', async () => {
      const store = memoryStore()
      const lines: string[] = []
      const logger = { warn: (line: string) => void lines.push(line) }
      const build = async () => {
        const app = fastify()
        await app.register(fastifyRateLimit, { policies: perMinute(10), store, logger })
        app.get('/', async () => 'ok')
        app.get('/own', { config: { rateLimit: { policies: perMinute(3, 'own') } } }, async () => 'ok')
        return app
      }
      await (await build()).close()
      const again = await build()
      expect(lines.filter((l) => l.includes('SHARED_COUNTERS'))).toEqual([])
      await again.close()
    })

    it('leaves open a limiter the app gave it, when the app closes', async () => {
      const limiter = createRateLimiter({ policies: perMinute(3), logger: false })
      const app = fastify()
      await app.register(fastifyRateLimit, { limiter })
      app.get('/', async () => 'ok')
      expect(await statuses(app, '/', 1)).toEqual([200])
      await app.close()
      expect((await limiter.limit('someone')).allowed).toBe(true)
      await limiter.close()
    })

    it("counts a route's own limits once per plugin, registered three times over on one store", async () => {
      const store = memoryStore({ clock: manualClock(1_800_000_020_000) })
      const app = fastify()
      await app.register(fastifyRateLimit, { policies: perMinute(100, 'app'), store, logger: false })
      await app.register(
        async (api) => {
          await api.register(fastifyRateLimit, { policies: perMinute(50, 'api'), store, logger: false })
          await api.register(async (admin) => {
            await admin.register(fastifyRateLimit, { policies: perMinute(20, 'admin'), store, logger: false })
            admin.get(
              '/login',
              { config: { rateLimit: { policies: perMinute(4, 'login') } } },
              async () => 'ok',
            )
          })
        },
        { prefix: '/api' },
      )
      // Three limiters from the route's options, each counting in a counter of its own.
      expect(await statuses(app, '/api/login', 5)).toEqual([200, 200, 200, 200, 429])
      await app.close()
    })

    it('registers in an app whose requests have a rateLimit decorator already (another copy of the plugin)', async () => {
      const app = fastify()
      app.decorateRequest('rateLimit', undefined)
      await app.register(fastifyRateLimit, { policies: perMinute(1), store: stillStore() })
      app.get('/', async () => 'ok')
      expect(await statuses(app, '/', 2)).toEqual([200, 429])
      await app.close()
    })

    it("declares request.rateLimit as a request decorator, and keeps a route's other config", async () => {
      const app = fastify()
      await app.register(fastifyRateLimit, { policies: perMinute(1), store: stillStore() })
      expect(app.hasRequestDecorator('rateLimit')).toBe(true)
      const config = { rateLimit: { policies: perMinute(2) }, team: 'search' }
      app.get('/', { config }, async (request) => (request.routeOptions.config as { team?: string }).team)
      expect((await app.inject('/')).body).toBe('search')
      await app.close()
    })

    it("answers a store failure under 'deny' with 503, never through onLimited", async () => {
      const calls: unknown[] = []
      const app = fastify()
      await app.register(fastifyRateLimit, {
        policies: perMinute(5),
        store: {
          name: 'failing',
          local: false,
          consume: () => Promise.reject(new Error('connection refused')),
          reset: () => undefined,
          close: () => undefined,
        },
        onStoreError: 'deny',
        logger: false,
        onLimited: (_request, reply, decision) => {
          calls.push(decision)
          return reply.code(429).send('custom')
        },
      })
      app.get('/', async () => 'ok')
      const down = await app.inject('/')
      expect([down.statusCode, down.headers['content-type']]).toEqual([503, 'application/problem+json'])
      expect(calls).toEqual([])
      await app.close()
    })

    it("sends an error thrown while reading another limiter's request.rateLimit to the error handler", async () => {
      // Decided at once (the memory store), and through a promise (an async key).
      for (const options of [
        { policies: perMinute(5) },
        { policies: perMinute(5), key: async () => 'one' },
      ]) {
        const errors: unknown[] = []
        const app = fastify()
        app.setErrorHandler((error, _request, reply) => {
          errors.push(error)
          return reply.code(500).send('failed')
        })
        app.addHook('onRequest', (request, _reply, done) => {
          // Another library's object that cannot be read.
          ;(request as { rateLimit?: unknown }).rateLimit = {
            get allowed(): boolean {
              throw new Error('unreadable')
            },
          }
          done()
        })
        await app.register(fastifyRateLimit, options)
        app.get('/', async () => 'ok')
        const failed = await app.inject('/')
        expect([failed.statusCode, failed.body]).toEqual([500, 'failed'])
        expect(errors).toEqual([expect.objectContaining({ message: 'unreadable' })])
        await app.close()
      }
    })
  })
}
