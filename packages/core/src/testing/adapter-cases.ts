import { expect } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import type { AdapterCase, RequestWithHeaders } from './adapter-behaviour.js'
import { rateLimitHeadersOf, withServer } from './adapter-behaviour.js'
import { callbackCases } from './adapter-cases-callbacks.js'
import {
  behaviourFixture,
  brokenStore,
  dictionary,
  exposedRemaining,
  listMembers,
  perMinute,
  statuses,
  WINDOW_END_MS,
} from './adapter-fixture.js'

const PROBLEM_429 = {
  type: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
  title: 'Too Many Requests',
  status: 429,
  detail: 'Rate limit exceeded for policy "fw"; retry in 40 s.',
  'violated-policies': ['fw'],
}

/** The rows on denials, header formats, routes and mounts; callbacks and failures are in their own file. */
export function adapterCases(): Record<string, AdapterCase[]> {
  return {
    'denials and headers': denialCases,
    ...callbackCases(),
    'routes and mounts': routeCases,
  }
}

const header = (name: string) => (req: RequestWithHeaders) => req.headers[name] as string

const denialCases: AdapterCase[] = [
  {
    name: 'denies the sixth request of a 5-per-window policy with 429, Retry-After and problem+json',
    run: (driver) => {
      const f = behaviourFixture()
      return withServer(driver, { global: f.options(perMinute(5)) }, async (server) => {
        for (let i = 0; i < 5; i++) {
          const ok = await server.get('/')
          expect(exposedRemaining(ok)).toBe(4 - i)
          expect(ok.headers.get('retry-after')).toBeNull()
        }
        const denied = await server.get('/')
        expect(denied.status).toBe(429)
        expect(denied.headers.get('retry-after')).toBe('40')
        expect(denied.headers.get('content-type')).toBe('application/problem+json')
        expect(JSON.parse(denied.body)).toEqual(PROBLEM_429)
        expect(server.handled()).toBe(5)
      })
    },
  },
  {
    name: 'marks its 429 and 503 not to be stored by a cache, over a Cache-Control set earlier',
    run: (driver) => {
      const f = behaviourFixture()
      const down = { policies: perMinute(5), store: brokenStore(), logger: f.logger, onStoreError: 'deny' }
      const app = {
        global: f.options(perMinute(1)),
        routes: [{ path: '/down', rateLimit: down }],
        earlyHeaders: { 'cache-control': 'public, max-age=60' },
      }
      return withServer(driver, app, async (server) => {
        const admitted = await server.get('/')
        expect(admitted.status).toBe(200)
        expect(admitted.headers.get('cache-control')).toBe('public, max-age=60')
        const limited = await server.get('/')
        expect(limited.status).toBe(429)
        expect(limited.headers.get('cache-control')).toBe('no-store')
        const unavailable = await server.get('/down')
        expect(unavailable.status).toBe(503)
        expect(unavailable.headers.get('cache-control')).toBe('no-store')
      })
    },
  },
  {
    name: 'writes draft-8 and legacy headers by default, every value an integer',
    run: (driver) => {
      const f = behaviourFixture()
      return withServer(driver, { global: f.options(perMinute(5)) }, async (server) => {
        const first = await server.get('/')
        expect(listMembers(first.headers.get('ratelimit-policy'))).toEqual([
          { name: 'fw', params: { q: 5, w: 60 } },
        ])
        expect(listMembers(first.headers.get('ratelimit'))).toEqual([{ name: 'fw', params: { r: 4, t: 40 } }])
        expect(first.headers.get('x-ratelimit-limit')).toBe('5')
        expect(first.headers.get('x-ratelimit-remaining')).toBe('4')
        expect(first.headers.get('x-ratelimit-reset')).toBe(String(WINDOW_END_MS / 1000))
        expect(first.headers.get('ratelimit-limit')).toBeNull()
        await statuses(server.get, 4)
        f.clock.advance(15_500)
        const denied = await server.get('/')
        expect(listMembers(denied.headers.get('ratelimit'))).toEqual([
          { name: 'fw', params: { r: 0, t: 25 } },
        ])
        expect(denied.headers.get('retry-after')).toBe('25')
      })
    },
  },
  {
    name: 'writes only draft-7 when selected',
    run: (driver) => {
      const f = behaviourFixture()
      return withServer(
        driver,
        { global: f.options(perMinute(5), { headers: 'draft-7' }) },
        async (server) => {
          const r = await server.get('/')
          expect(r.headers.get('ratelimit-policy')).toBe('5;w=60')
          expect(dictionary(r.headers.get('ratelimit'))).toEqual({ limit: 5, remaining: 4, reset: 40 })
          expect(Object.keys(rateLimitHeadersOf(r)).sort()).toEqual(['ratelimit', 'ratelimit-policy'])
        },
      )
    },
  },
  {
    name: 'writes only draft-6 when selected',
    run: (driver) => {
      const f = behaviourFixture()
      return withServer(
        driver,
        { global: f.options(perMinute(5), { headers: ['draft-6'] }) },
        async (server) => {
          const r = await server.get('/')
          expect(rateLimitHeadersOf(r)).toEqual({
            'ratelimit-policy': '5;w=60',
            'ratelimit-limit': '5',
            'ratelimit-remaining': '4',
            'ratelimit-reset': '40',
          })
        },
      )
    },
  },
  {
    name: 'writes only draft-8 or only legacy when selected',
    run: async (driver) => {
      const f = behaviourFixture()
      await withServer(
        driver,
        { global: f.options(perMinute(5), { headers: ['draft-8'] }) },
        async (server) => {
          const r = await server.get('/')
          expect(Object.keys(rateLimitHeadersOf(r)).sort()).toEqual(['ratelimit', 'ratelimit-policy'])
        },
      )
      const g = behaviourFixture()
      await withServer(driver, { global: g.options(perMinute(5), { headers: 'legacy' }) }, async (server) => {
        const r = await server.get('/')
        expect(rateLimitHeadersOf(r)).toEqual({
          'x-ratelimit-limit': '5',
          'x-ratelimit-remaining': '4',
          'x-ratelimit-reset': String(WINDOW_END_MS / 1000),
        })
      })
    },
  },
  {
    name: 'writes no rate-limit headers with headers: false, and still Retry-After on a denial',
    run: (driver) => {
      const f = behaviourFixture()
      return withServer(driver, { global: f.options(perMinute(1), { headers: false }) }, async (server) => {
        expect(rateLimitHeadersOf(await server.get('/'))).toEqual({})
        const denied = await server.get('/')
        expect(denied.status).toBe(429)
        expect(rateLimitHeadersOf(denied)).toEqual({ 'retry-after': '40' })
      })
    },
  },
  {
    name: 'applies two policies all-or-nothing and names the violated one',
    run: (driver) => {
      const f = behaviourFixture()
      const policies = [perMinute(3, 'minute'), fixedWindow({ name: 'hourly', limit: 5, window: '1 h' })]
      return withServer(driver, { global: f.options(policies) }, async (server) => {
        expect(await statuses(server.get, 4)).toEqual([200, 200, 200, 429])
        const denied = await server.get('/')
        expect(JSON.parse(denied.body)['violated-policies']).toEqual(['minute'])
        // The window of an hour started 20 s before BEHAVIOUR_START_MS.
        expect(listMembers(denied.headers.get('ratelimit'))).toEqual([
          { name: 'minute', params: { r: 0, t: 40 } },
          { name: 'hourly', params: { r: 2, t: 3580 } },
        ])
        f.clock.advance(60_000)
        expect(await statuses(server.get, 3)).toEqual([200, 200, 429])
        const hourly = await server.get('/')
        expect(JSON.parse(hourly.body)['violated-policies']).toEqual(['hourly'])
        expect(hourly.headers.get('retry-after')).toBe('3520')
      })
    },
  },
  {
    name: 'denies a cost larger than the limit without Retry-After',
    run: (driver) => {
      const f = behaviourFixture()
      const options = f.options(perMinute(5), { cost: () => 6 })
      return withServer(driver, { global: options }, async (server) => {
        const denied = await server.get('/')
        expect(denied.status).toBe(429)
        expect(denied.headers.get('retry-after')).toBeNull()
        expect(JSON.parse(denied.body).detail).toContain('cannot succeed')
      })
    },
  },
]

const routeCases: AdapterCase[] = [
  {
    name: 'gives a route its own limit, apart from the app-wide one',
    run: (driver) => {
      const f = behaviourFixture()
      const app = {
        global: f.options(perMinute(5)),
        routes: [{ path: '/special', rateLimit: f.options(perMinute(2, 'special')) }],
      }
      return withServer(driver, app, async (server) => {
        expect(await statuses(server.get, 3, '/special')).toEqual([200, 200, 429])
        const own = await server.get('/special')
        expect(listMembers(own.headers.get('ratelimit-policy'))[0]!.name).toBe('special')
        expect(exposedRemaining(await server.get('/'))).toBe(4)
      })
    },
  },
  {
    name: 'leaves a route that opts out unlimited and without headers',
    run: (driver) => {
      const f = behaviourFixture()
      const app = { global: f.options(perMinute(2)), routes: [{ path: '/open', rateLimit: false as const }] }
      return withServer(driver, app, async (server) => {
        for (let i = 0; i < 5; i++) {
          const r = await server.get('/open')
          expect(r.status).toBe(200)
          expect(rateLimitHeadersOf(r)).toEqual({})
          expect(exposedRemaining(r)).toBeNull()
        }
        expect(await statuses(server.get, 3)).toEqual([200, 200, 429])
      })
    },
  },
  {
    name: 'counts a request once when it passes two mounts of the same limiter',
    run: (driver) => {
      const f = behaviourFixture()
      const limiter = createRateLimiter({ policies: perMinute(5), store: f.store })
      return withServer(driver, { global: { limiter }, mountTwice: true }, async (server) => {
        const remaining: (number | null)[] = []
        for (let i = 0; i < 5; i++) remaining.push(exposedRemaining(await server.get('/')))
        expect(remaining).toEqual([4, 3, 2, 1, 0])
        expect((await server.get('/')).status).toBe(429)
      })
    },
  },
  {
    name: 'shows the limit met first when two limiters pass a request, in either order',
    run: async (driver) => {
      for (const [first, second] of [
        [3, 10],
        [10, 3],
      ] as const) {
        const f = behaviourFixture()
        const app = {
          global: f.options(perMinute(first, `first-${first}`)),
          mountTwice: f.options(perMinute(second, `second-${second}`)),
        }
        await withServer(driver, app, async (server) => {
          const seen: [number | null, string | null][] = []
          for (let i = 0; i < 3; i++) {
            const r = await server.get('/')
            seen.push([exposedRemaining(r), r.headers.get('x-ratelimit-limit')])
          }
          expect(seen).toEqual([
            [2, '3'],
            [1, '3'],
            [0, '3'],
          ])
          const denied = await server.get('/')
          expect([denied.status, denied.headers.get('x-ratelimit-limit')]).toEqual([429, '3'])
        })
      }
    },
  },
  {
    name: "shows only the binding limiter's headers when two limiters write different formats",
    run: async (driver) => {
      const f = behaviourFixture()
      const app = {
        global: f.options(perMinute(10, 'wide')),
        mountTwice: f.options(perMinute(2, 'strict'), { headers: 'draft-6' }),
      }
      await withServer(driver, app, async (server) => {
        for (const expected of [200, 200, 429]) {
          const r = await server.get('/')
          expect(r.status).toBe(expected)
          // The strict limiter binds: its draft-6 fields, and none of the wide one's draft-8 or legacy.
          expect(r.headers.get('ratelimit-policy')).toBe('2;w=60')
          for (const name of [
            'ratelimit',
            'x-ratelimit-limit',
            'x-ratelimit-remaining',
            'x-ratelimit-reset',
          ]) {
            expect(r.headers.get(name)).toBeNull()
          }
        }
      })
    },
  },
  {
    name: "keeps the first limiter's headers and decision when a second one's store fails, under 'allow' or 'deny'",
    run: async (driver) => {
      for (const onStoreError of ['allow', 'deny'] as const) {
        const f = behaviourFixture()
        const app = {
          global: f.options(perMinute(10, 'wide')),
          mountTwice: { ...f.options(perMinute(3, 'strict')), store: brokenStore(), onStoreError },
        }
        await withServer(driver, app, async (server) => {
          const r = await server.get('/')
          if (onStoreError === 'allow') {
            expect(r.status).toBe(200)
            expect(r.headers.get('ratelimit')).toBe('"wide";r=9;t=40')
            expect(r.headers.get('x-ratelimit-remaining')).toBe('9')
            expect(exposedRemaining(r)).toBe(9) // the decision exposed is the first's
          } else {
            // The 503 is the failed limiter's answer: no quota is shown on it.
            expect(r.status).toBe(503)
            expect(rateLimitHeadersOf(r)).toEqual({})
          }
        })
      }
    },
  },
  {
    name: 'shows no rate-limit headers when the binding limiter writes none (headers: false), in either order',
    run: async (driver) => {
      for (const strictFirst of [true, false]) {
        const f = behaviourFixture()
        const wide = f.options(perMinute(10, 'wide'))
        const strict = f.options(perMinute(3, 'strict'), { headers: false })
        const app = strictFirst ? { global: strict, mountTwice: wide } : { global: wide, mountTwice: strict }
        await withServer(driver, app, async (server) => {
          const r = await server.get('/')
          expect(r.status).toBe(200)
          expect(rateLimitHeadersOf(r)).toEqual({})
          expect(exposedRemaining(r)).toBe(2)
        })
      }
    },
  },
  {
    name: "never shows a shadow-mode limiter's headers over an enforcing one's, in either order",
    run: async (driver) => {
      for (const shadowFirst of [true, false]) {
        const f = behaviourFixture()
        const shadow = f.options(perMinute(1, 'trial'), { mode: 'shadow' })
        const enforcing = f.options(perMinute(5, 'real'))
        const app = shadowFirst
          ? { global: shadow, mountTwice: enforcing }
          : { global: enforcing, mountTwice: shadow }
        await withServer(driver, app, async (server) => {
          const seen: (string | null)[] = []
          for (let i = 0; i < 5; i++) seen.push((await server.get('/')).headers.get('x-ratelimit-remaining'))
          expect(seen).toEqual(['4', '3', '2', '1', '0'])
          expect((await server.get('/')).status).toBe(429)
        })
      }
    },
  },
  {
    name: "leaves in shadow mode the rate-limit fields another library's limiter set before it, and writes its own without them",
    run: async (driver) => {
      // express-rate-limit, @fastify/rate-limit or koa-ratelimit enforcing during a migration.
      const peer = { 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '1', 'ratelimit-policy': '2;w=60' }
      const f = behaviourFixture()
      const shadow = f.options(perMinute(100, 'trial'), { mode: 'shadow' })
      await withServer(driver, { global: shadow, earlyHeaders: peer }, async (server) => {
        const answer = await server.get('/')
        expect(answer.status).toBe(200)
        for (const [name, value] of Object.entries(peer)) expect(answer.headers.get(name)).toBe(value)
        expect(answer.headers.get('ratelimit')).toBeNull()
        expect(exposedRemaining(answer)).toBe(99)
      })
      await withServer(
        driver,
        { global: behaviourFixture().options(perMinute(100, 'trial'), { mode: 'shadow' }) },
        async (server) => {
          expect((await server.get('/')).headers.get('x-ratelimit-remaining')).toBe('99')
        },
      )
    },
  },
  {
    name: 'shows the headers and the decision of one limiter when two shadow-mode limiters pass a request',
    run: async (driver) => {
      for (const firstLimit of [100, 5]) {
        const f = behaviourFixture()
        const first = f.options(perMinute(firstLimit, 'first'), { mode: 'shadow' })
        const second = f.options(perMinute(105 - firstLimit, 'second'), { mode: 'shadow' })
        await withServer(driver, { global: first, mountTwice: second }, async (server) => {
          const answer = await server.get('/')
          expect(answer.status).toBe(200)
          expect(answer.headers.get('x-ratelimit-remaining')).toBe(String(exposedRemaining(answer)))
        })
      }
    },
  },
  {
    name: 'picks the tier from an async resolver, each tier with its own limits',
    run: (driver) => {
      const f = behaviourFixture()
      const options = {
        tiers: { free: perMinute(2), pro: perMinute(4) },
        defaultTier: 'free',
        store: f.store,
        key: header('x-user'),
        tier: async (req: RequestWithHeaders) => (await Promise.resolve(req.headers['x-plan'])) as string,
      }
      return withServer(driver, { global: options }, async (server) => {
        const free = { 'x-user': 'ann', 'x-plan': 'free' }
        const pro = { 'x-user': 'bob', 'x-plan': 'pro' }
        expect(await statuses(server.get, 3, '/', free)).toEqual([200, 200, 429])
        const first = await server.get('/', pro)
        expect(listMembers(first.headers.get('ratelimit-policy'))).toEqual([
          { name: 'fw', params: { q: 4, w: 60 } },
        ])
        expect(await statuses(server.get, 4, '/', pro)).toEqual([200, 200, 200, 429])
      })
    },
  },
]
