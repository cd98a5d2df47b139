import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { runInNewContext } from 'node:vm'
import { fixedWindow, memoryStore } from '@floodgate/core'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import { afterEach, describe, expect, it } from 'vitest'
import { rateLimit } from './index.js'

const servers: Server[] = []
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

/** A store whose clock stands still, so no window boundary can fall between two requests. */
const fixedClockStore = () => memoryStore({ clock: () => 1_700_000_000_000 })

async function serve(app: Koa3): Promise<string> {
  const server = createServer(app.callback()).listen(0, '127.0.0.1')
  servers.push(server)
  await new Promise((resolve) => server.once('listening', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

for (const [name, Koa] of [
  ['koa 3', Koa3],
  ['koa 2', Koa2 as unknown as typeof Koa3],
] as const) {
  describe(`${name}: rate-limit headers survive a throw`, () => {
    it('keeps them when onLimited calls ctx.throw(429)', async () => {
      const app = new Koa()
      app.silent = true
      const policies = fixedWindow({ limit: 1, window: '1 m' })
      app.use(
        rateLimit({ policies, store: fixedClockStore(), onLimited: (ctx) => ctx.throw(429, 'Slow down') }),
      )
      app.use((ctx) => {
        ctx.body = 'ok'
      })
      const base = await serve(app)
      await fetch(base)
      const denied = await fetch(base)
      expect(denied.status).toBe(429)
      expect(await denied.text()).toBe('Slow down')
      expect(Number(denied.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      expect(denied.headers.get('x-ratelimit-remaining')).toBe('0')
      expect(denied.headers.get('ratelimit')).toMatch(/^"fixed-window";r=0;t=\d+$/)
    })

    it('lets an error’s own header win over the rate-limit header of the same name', async () => {
      const app = new Koa()
      app.silent = true
      const policies = fixedWindow({ limit: 1, window: '1 m' })
      app.use(
        rateLimit({
          policies,
          store: fixedClockStore(),
          onLimited: (ctx) => ctx.throw(429, 'Come back in an hour', { headers: { 'retry-after': '3600' } }),
        }),
      )
      app.use((ctx) => {
        ctx.body = 'ok'
      })
      const base = await serve(app)
      await fetch(base)
      const denied = await fetch(base)
      expect([denied.status, denied.headers.get('retry-after')]).toEqual([429, '3600'])
      expect(denied.headers.get('x-ratelimit-remaining')).toBe('0')
    })

    it('leaves ctx.onerror a no-op for a node-style callback’s null or undefined, as Koa does', async () => {
      const app = new Koa()
      const logged: string[] = []
      app.on('error', (error: Error) => logged.push(error.message))
      app.use(rateLimit({ policies: fixedWindow({ limit: 5, window: '1 m' }), store: fixedClockStore() }))
      app.use((ctx) => {
        // Handed on as a node-style callback, which stream.pipeline() calls so when it succeeds:
        // bound, or detached (Koa's own needs no `this` for that).
        const bound = ctx.onerror.bind(ctx) as (error?: Error | null) => void
        bound(undefined)
        bound(null)
        const detached = ctx.onerror as (error?: Error | null) => void
        detached(undefined)
        detached(null)
        ctx.body = 'ok'
      })
      const r = await fetch(await serve(app))
      expect([r.status, await r.text(), r.headers.get('x-ratelimit-remaining')]).toEqual([200, 'ok', '4'])
      expect(logged).toEqual([])
    })

    it('gives each request its own headers when one error object is thrown on every request', async () => {
      const app = new Koa()
      app.silent = true
      const notFound = Object.assign(new Error('Nothing here'), { status: 404, expose: true })
      app.use(
        rateLimit({
          policies: fixedWindow({ limit: 5, window: '1 m' }),
          store: fixedClockStore(),
          key: (ctx) => String(ctx.get('x-user')),
          skip: (ctx) => ctx.get('x-skip') === '1',
        }),
      )
      app.use(() => {
        throw notFound
      })
      const base = await serve(app)
      const remaining = async (user: string, skip = '0') => {
        const r = await fetch(base, { headers: { 'x-user': user, 'x-skip': skip } })
        expect(r.status).toBe(404)
        return r.headers.get('x-ratelimit-remaining')
      }
      expect([
        await remaining('a'),
        await remaining('a'),
        await remaining('b'),
        await remaining('a'),
      ]).toEqual(['4', '3', '4', '2'])
      // A skipped request carries no rate-limit headers, whatever an earlier request left.
      expect(await remaining('a', '1')).toBeNull()
      expect(Object.hasOwn(notFound, 'headers')).toBe(false)
    })

    it("gives an error's own headers back to it, unchanged, for the next request that throws it", async () => {
      const app = new Koa()
      app.silent = true
      const ownHeaders = { 'x-own': 'yes' }
      const gone = Object.assign(new Error('Gone'), { status: 410, expose: true, headers: ownHeaders })
      app.use(rateLimit({ policies: fixedWindow({ limit: 5, window: '1 m' }), store: fixedClockStore() }))
      app.use(() => {
        throw gone
      })
      const base = await serve(app)
      for (const remaining of ['4', '3']) {
        const r = await fetch(base)
        expect([r.status, r.headers.get('x-own'), r.headers.get('x-ratelimit-remaining')]).toEqual([
          410,
          'yes',
          remaining,
        ])
        expect(Object.getOwnPropertyDescriptor(gone, 'headers')).toEqual({
          value: ownHeaders,
          writable: true,
          enumerable: true,
          configurable: true,
        })
      }
    })

    it("keeps an error's status when its headers cannot be set, and its own headers", async () => {
      const app = new Koa()
      app.silent = true
      app.use(rateLimit({ policies: fixedWindow({ limit: 5, window: '1 m' }), store: fixedClockStore() }))
      app.use((ctx) => {
        if (ctx.path === '/getter') {
          const error = Object.assign(new Error('Gone'), { status: 410, expose: true })
          Object.defineProperty(error, 'headers', { get: () => ({ 'x-own': 'yes' }) })
          throw error
        }
        const error = Object.assign(new Error('Teapot'), { status: 418, expose: true })
        Object.defineProperty(error, 'headers', { value: { 'x-own': 'fixed' }, writable: false })
        throw error
      })
      const base = await serve(app)
      const getter = await fetch(`${base}/getter`)
      expect([getter.status, getter.headers.get('x-own')]).toEqual([410, 'yes'])
      const fixed = await fetch(`${base}/fixed`)
      expect([fixed.status, fixed.headers.get('x-own')]).toEqual([418, 'fixed'])
    })

    it('keeps them when a later middleware throws something that is not an Error', async () => {
      const app = new Koa()
      const logged: string[] = []
      app.on('error', (error: Error) => logged.push(error.message))
      app.use(rateLimit({ policies: fixedWindow({ limit: 5, window: '1 m' }), store: fixedClockStore() }))
      app.use(() => {
        throw { reason: 'plain object' }
      })
      const r = await fetch(await serve(app))
      expect(r.status).toBe(500)
      expect(r.headers.get('x-ratelimit-remaining')).toBe('4')
      expect(logged).toEqual(['non-error thrown: {"reason":"plain object"}'])
    })

    it('keeps them when a later middleware throws an Error of another realm', async () => {
      const app = new Koa()
      app.silent = true
      app.use(rateLimit({ policies: fixedWindow({ limit: 5, window: '1 m' }), store: fixedClockStore() }))
      app.use(() => {
        // An Error made in a vm context is no `instanceof Error` here, but Koa answers it as an Error.
        const error = runInNewContext('new Error("Teapot")') as Error
        throw Object.assign(error, { status: 418, expose: true })
      })
      const r = await fetch(await serve(app))
      expect([r.status, await r.text()]).toEqual([418, 'Teapot'])
      expect(r.headers.get('x-ratelimit-remaining')).toBe('4')
    })

    it('keeps them on an Error whose toString tag is its own, such as a DOMException', async () => {
      const app = new Koa()
      const logged: string[] = []
      app.on('error', (error: Error) => logged.push(error.message))
      app.use(rateLimit({ policies: fixedWindow({ limit: 5, window: '1 m' }), store: fixedClockStore() }))
      app.use(() => {
        // `[object DOMException]`, yet an Error: Koa answers it as one, with its status.
        throw Object.assign(new DOMException('Upstream timed out', 'TimeoutError'), {
          status: 504,
          expose: true,
        })
      })
      const r = await fetch(await serve(app))
      expect([r.status, await r.text()]).toEqual([504, 'Upstream timed out'])
      expect(r.headers.get('x-ratelimit-remaining')).toBe('4')
      // The DOMException itself, not a "non-error thrown" one made in its place.
      expect(logged).toEqual(['Upstream timed out'])
    })

    it('leaves a response sent under ctx.respond = false before it denied as it is, with no app error', async () => {
      const app = new Koa()
      const logged: string[] = []
      app.on('error', (error: Error) => logged.push(error.message))
      app.use(async (ctx, next) => {
        ctx.respond = false
        ctx.res.statusCode = 200
        ctx.res.end('raw answer')
        await next()
      })
      app.use(rateLimit({ policies: fixedWindow({ limit: 1, window: '1 m' }), store: fixedClockStore() }))
      const base = await serve(app)
      expect(await (await fetch(base)).text()).toBe('raw answer')
      const denied = await fetch(base)
      expect([denied.status, await denied.text()]).toEqual([200, 'raw answer'])
      expect(logged).toEqual([])
    })

    it('leaves a response an earlier middleware sent past Koa as it is when it denies, with no app error', async () => {
      const app = new Koa()
      const logged: string[] = []
      app.on('error', (error: Error) => logged.push(error.message))
      app.use((ctx, next) => {
        ctx.res.statusCode = 200
        ctx.res.end('raw answer')
        return next()
      })
      app.use(rateLimit({ policies: fixedWindow({ limit: 1, window: '1 m' }), store: fixedClockStore() }))
      const base = await serve(app)
      expect(await (await fetch(base)).text()).toBe('raw answer')
      const denied = await fetch(base)
      expect([denied.status, await denied.text()]).toEqual([200, 'raw answer'])
      expect(denied.headers.get('content-type')).toBeNull()
      expect(logged).toEqual([])
    })

    it('answers a denial itself when an earlier middleware set ctx.respond = false', async () => {
      const app = new Koa()
      app.use(async (ctx, next) => {
        ctx.respond = false
        await next()
        if (!ctx.res.headersSent) ctx.res.end('raw answer')
      })
      app.use(rateLimit({ policies: fixedWindow({ limit: 1, window: '1 m' }), store: fixedClockStore() }))
      const base = await serve(app)
      expect(await (await fetch(base)).text()).toBe('raw answer')
      const denied = await fetch(base, { signal: AbortSignal.timeout(5_000) })
      expect(denied.status).toBe(429)
      expect(denied.headers.get('content-type')).toBe('application/problem+json')
      expect(JSON.parse(await denied.text())).toMatchObject({ status: 429 })
    })

    it('answers a denial itself under ctx.respond = false when onLimited sends nothing', async () => {
      const app = new Koa()
      app.use(async (ctx, next) => {
        ctx.respond = false
        await next()
      })
      app.use(
        rateLimit({
          policies: fixedWindow({ limit: 1, window: '1 m' }),
          store: fixedClockStore(),
          onLimited: () => {}, // a log line, say
        }),
      )
      app.use((ctx) => void ctx.res.end('raw answer'))
      const base = await serve(app)
      expect(await (await fetch(base)).text()).toBe('raw answer')
      const denied = await fetch(base, { signal: AbortSignal.timeout(5_000) })
      expect(denied.status).toBe(429)
      expect(denied.headers.get('content-type')).toBe('application/problem+json')
      expect(denied.headers.get('x-ratelimit-remaining')).toBe('0')
    })

    it("keeps the denying limiter's headers, and only those, when a middleware upstream rethrows its answer", async () => {
      for (const route of [
        { policies: fixedWindow({ name: 'route', limit: 1, window: '1 m' }) },
        {
          policies: fixedWindow({ name: 'route', limit: 5, window: '1 m' }),
          store: memoryStore({ clock: () => -1 }), // a store that fails every call
          onStoreError: 'deny' as const,
          logger: false as const,
        },
      ]) {
        const app = new Koa()
        app.silent = true
        app.use(async (ctx, next) => {
          await next()
          if (ctx.status === 429 || ctx.status === 503) ctx.throw(ctx.status, 'wrapped')
        })
        app.use(
          rateLimit({
            policies: fixedWindow({ name: 'app', limit: 100, window: '1 m' }),
            store: fixedClockStore(),
          }),
        )
        app.use(rateLimit({ store: fixedClockStore(), ...route }))
        app.use((ctx) => {
          ctx.body = 'ok'
        })
        const base = await serve(app)
        if ('store' in route) {
          const failed = await fetch(base)
          expect(failed.status).toBe(503)
          for (const name of ['ratelimit', 'x-ratelimit-remaining', 'retry-after'])
            expect(failed.headers.get(name)).toBeNull()
        } else {
          await fetch(base)
          const denied = await fetch(base)
          expect(denied.status).toBe(429)
          expect(denied.headers.get('ratelimit')).toMatch(/^"route";r=0;t=\d+$/)
          expect(denied.headers.get('retry-after')).toMatch(/^\d+$/)
        }
      }
    })

    it('keeps them when a later middleware throws', async () => {
      const app = new Koa()
      app.silent = true
      app.use(rateLimit({ policies: fixedWindow({ limit: 5, window: '1 m' }), store: fixedClockStore() }))
      app.use((ctx) => ctx.throw(404, 'Nothing here'))
      const response = await fetch(await serve(app))
      expect(response.status).toBe(404)
      expect(response.headers.get('x-ratelimit-remaining')).toBe('4')
    })
  })
}

for (const [name, Koa] of [
  ['koa 3', Koa3],
  ['koa 2', Koa2 as unknown as typeof Koa3],
] as const) {
  describe(`${name}: an onLimited that sets nothing`, () => {
    it("gets the default 429, not Koa's 404, whether it returns at once or settles a promise", async () => {
      for (const onLimited of [() => undefined, async () => undefined]) {
        const app = new Koa()
        const policies = fixedWindow({ limit: 1, window: '1 m' })
        app.use(rateLimit({ policies, store: fixedClockStore(), onLimited }))
        app.use((ctx) => {
          ctx.body = 'ok'
        })
        const base = await serve(app)
        expect((await fetch(base)).status).toBe(200)
        const limited = await fetch(base)
        expect(limited.status).toBe(429)
        expect(limited.headers.get('content-type')).toBe('application/problem+json')
        expect(limited.headers.get('retry-after')).not.toBeNull()
        expect(JSON.parse(await limited.text())).toMatchObject({ status: 429 })
      }
    })

    it('keeps the answer of one that sets only a status (404 included, or past Koa) or only a body', async () => {
      for (const [onLimited, status, body] of [
        [
          (ctx: Koa3.Context) => {
            ctx.status = 404 // hiding the route
          },
          404,
          'Not Found',
        ],
        [
          (ctx: Koa3.Context) => {
            ctx.res.statusCode = 503 // on Node's response, past Koa
          },
          503,
          'Service Unavailable',
        ],
        [
          (ctx: Koa3.Context) => {
            ctx.status = 403
          },
          403,
          'Forbidden',
        ],
        [
          (ctx: Koa3.Context) => {
            ctx.body = 'slow down'
          },
          200,
          'slow down',
        ],
      ] as const) {
        const app = new Koa()
        app.use(
          rateLimit({
            policies: fixedWindow({ limit: 1, window: '1 m' }),
            store: fixedClockStore(),
            onLimited,
          }),
        )
        app.use((ctx) => {
          ctx.body = 'ok'
        })
        const base = await serve(app)
        await fetch(base)
        const limited = await fetch(base)
        expect([limited.status, await limited.text()]).toEqual([status, body])
      }
    })
  })
}

for (const [name, Koa] of [
  ['koa 3', Koa3],
  ['koa 2', Koa2 as unknown as typeof Koa3],
] as const) {
  describe(`${name}: an error's own headers`, () => {
    it('answers an error whose headers cannot be set once: one app error event, not two', async () => {
      const app = new Koa()
      const logged: string[] = []
      app.on('error', (error: Error) => logged.push(error.message))
      app.use(rateLimit({ policies: fixedWindow({ limit: 5, window: '1 m' }), store: fixedClockStore() }))
      app.use(() => {
        const error = Object.assign(new Error('Teapot'), { status: 418, expose: true })
        Object.defineProperty(error, 'headers', { value: { 'x-own': 'fixed' }, writable: false })
        throw error
      })
      const r = await fetch(await serve(app))
      expect([r.status, await r.text(), r.headers.get('x-own')]).toEqual([418, 'Teapot', 'fixed'])
      expect(logged).toEqual(['Teapot'])
    })
  })
}
