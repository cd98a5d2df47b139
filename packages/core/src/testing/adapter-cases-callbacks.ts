import { expect } from 'vitest'
import type { Decision } from '../decision.js'
import { createRateLimiter, type RateLimiter } from '../limiter.js'
import type { AdapterCase, RequestWithHeaders } from './adapter-behaviour.js'
import { rateLimitHeadersOf, withServer } from './adapter-behaviour.js'
import { behaviourFixture, brokenStore, exposedRemaining, perMinute, statuses } from './adapter-fixture.js'

/** Rows on request callbacks, onLimited, store failures, callback errors and option checks. */
export function callbackCases(): Record<string, AdapterCase[]> {
  return {
    'request callbacks': requestCallbackCases,
    'store failures': storeFailureCases,
    'errors from callbacks': [...callbackErrorCases(), ...onLimitedErrorCases],
    'options checked at creation': optionCases,
  }
}

const requestCallbackCases: AdapterCase[] = [
  {
    name: 'charges the cost a callback returns',
    run: (driver) => {
      const f = behaviourFixture()
      const cost = (req: RequestWithHeaders) => Number(req.headers['x-cost'] ?? 1)
      return withServer(driver, { global: f.options(perMinute(5), { cost }) }, async (server) => {
        expect(exposedRemaining(await server.get('/', { 'x-cost': '3' }))).toBe(2)
        expect((await server.get('/', { 'x-cost': '3' })).status).toBe(429)
        expect(exposedRemaining(await server.get('/', { 'x-cost': '2' }))).toBe(0)
      })
    },
  },
  {
    // DESIGN §5: every callback may be async; a cost looked up elsewhere (a price per route) resolves later.
    name: 'charges the cost an async callback resolves to',
    run: (driver) => {
      const f = behaviourFixture()
      const cost = async (req: RequestWithHeaders) =>
        Number(await Promise.resolve(req.headers['x-cost'] ?? 1))
      return withServer(driver, { global: f.options(perMinute(5), { cost }) }, async (server) => {
        expect(exposedRemaining(await server.get('/', { 'x-cost': '3' }))).toBe(2)
        const denied = await server.get('/', { 'x-cost': '3' })
        expect(denied.status).toBe(429)
        expect(denied.headers.get('retry-after')).toBe('40')
        expect(exposedRemaining(await server.get('/', { 'x-cost': '2' }))).toBe(0)
        expect(server.errors).toEqual([])
      })
    },
  },
  {
    name: 'lets a skipped request through uncounted and without rate-limit headers',
    run: (driver) => {
      const f = behaviourFixture()
      const skip = async (req: RequestWithHeaders) => req.headers['x-skip'] === '1'
      return withServer(driver, { global: f.options(perMinute(2), { skip }) }, async (server) => {
        for (let i = 0; i < 4; i++) {
          const r = await server.get('/', { 'x-skip': '1' })
          expect(r.status).toBe(200)
          expect(rateLimitHeadersOf(r)).toEqual({})
          expect(exposedRemaining(r)).toBeNull()
        }
        expect(await statuses(server.get, 3)).toEqual([200, 200, 429])
      })
    },
  },
  {
    name: "counts a request whose skip returns a truthy value that is not true ('false', 1), and says so once",
    run: (driver) => {
      const f = behaviourFixture()
      // An environment variable read as it is: the string 'false' is truthy.
      const skip = ((req: RequestWithHeaders) =>
        req.headers['x-skip'] === 'number' ? 1 : Promise.resolve(req.headers['x-skip'])) as never
      return withServer(driver, { global: f.options(perMinute(3), { skip }) }, async (server) => {
        const got = [
          await server.get('/', { 'x-skip': 'false' }),
          await server.get('/', { 'x-skip': 'number' }),
          await server.get('/'),
          await server.get('/', { 'x-skip': 'false' }),
        ]
        expect(got.map((r) => r.status)).toEqual([200, 200, 200, 429])
        expect(got.slice(0, 3).map(exposedRemaining)).toEqual([2, 1, 0])
        expect(f.warnings).toEqual([
          expect.stringMatching(
            /WARN_FLOODGATE_SKIP_NOT_BOOLEAN: `skip` returned "false"; only `true` skips/,
          ),
        ])
      })
    },
  },
  {
    name: 'lets onLimited replace the answer, with the rate-limit headers already set',
    run: (driver) => {
      const f = behaviourFixture()
      const onLimited = driver.answerLimited(418, 'custom answer')
      return withServer(driver, { global: f.options(perMinute(1), { onLimited }) }, async (server) => {
        await server.get('/')
        const r = await server.get('/')
        expect(r.status).toBe(418)
        expect(r.body).toBe('custom answer')
        expect(r.headers.get('retry-after')).toBe('40')
        expect(r.headers.get('x-ratelimit-remaining')).toBe('0')
        expect(server.handled()).toBe(1)
      })
    },
  },
  {
    name: 'counts a request that one mount skips at the next mount of the same limiter',
    run: (driver) => {
      const f = behaviourFixture()
      const limiter = createRateLimiter({ policies: perMinute(2), store: f.store })
      const app = { global: { limiter, skip: () => true }, mountTwice: { limiter } }
      return withServer(driver, app, async (server) => {
        const first = await server.get('/')
        expect(exposedRemaining(first)).toBe(1)
        expect(rateLimitHeadersOf(first)['x-ratelimit-remaining']).toBe('1')
        expect(await statuses(server.get, 2)).toEqual([200, 429])
      })
    },
  },
  {
    name: 'counts a request again at a second middleware sharing the limiter with a key of its own',
    run: (driver) => {
      const f = behaviourFixture()
      const limiter = createRateLimiter({ policies: perMinute(3), store: f.store })
      const key = (req: RequestWithHeaders) => `api:${req.headers['x-api-key']}`
      const app = { global: { limiter }, mountTwice: { limiter, key } }
      return withServer(driver, app, async (server) => {
        expect((await server.get('/', { 'x-api-key': 'a' })).status).toBe(200)
        expect((await server.get('/', { 'x-api-key': 'b' })).status).toBe(200)
        // peek() answers as if for one more request: a key used once has 1 left after it.
        expect((await limiter.peek('api:a')).remaining).toBe(1)
        expect((await limiter.peek('api:b')).remaining).toBe(1)
        // The client's address was counted by the first middleware, once per request.
        expect((await server.get('/', { 'x-api-key': 'a' })).status).toBe(200)
        expect((await server.get('/', { 'x-api-key': 'c' })).status).toBe(429)
        expect((await limiter.peek('api:a')).remaining).toBe(0)
        expect((await limiter.peek('api:c')).remaining).toBe(2)
      })
    },
  },
  {
    name: 'counts a request again at a second middleware sharing the limiter with a cost or tier of its own',
    run: async (driver) => {
      // An upload spends 1 at the app-wide mount, then its own 5 at the route's.
      const f = behaviourFixture()
      const limiter = createRateLimiter({ policies: perMinute(10), store: f.store })
      await withServer(
        driver,
        { global: { limiter }, mountTwice: { limiter, cost: () => 5 } },
        async (server) => {
          const first = await server.get('/')
          expect([first.status, exposedRemaining(first)]).toEqual([200, 4])
          // 7 spent once the app-wide mount admits it: the upload's 5 no longer fits.
          expect(await statuses(server.get, 2)).toEqual([429, 429])
        },
      )
      // A login route's strict tier counts the request under its own limit.
      const g = behaviourFixture()
      const tiered = createRateLimiter({
        tiers: { open: perMinute(100), strict: perMinute(2) },
        defaultTier: 'open',
        store: g.store,
      })
      const app = { global: { limiter: tiered }, mountTwice: { limiter: tiered, tier: () => 'strict' } }
      await withServer(driver, app, async (server) => {
        expect(await statuses(server.get, 2)).toEqual([200, 429])
      })
    },
  },
  {
    name: 'counts a request once at two middlewares sharing the limiter that ask for the same tier and cost',
    run: async (driver) => {
      // The default tier, named or left out, and a cost of 1, given or left out, are what a mount
      // without callbacks asks for.
      const mounts = [
        [{ tier: () => 'open', cost: () => 1 }, {}],
        [{ cost: () => 1 }, { tier: () => 'open' }],
      ] as const
      for (const [first, second] of mounts) {
        const f = behaviourFixture()
        const limiter = createRateLimiter({
          tiers: { open: perMinute(5), strict: perMinute(1) },
          defaultTier: 'open',
          store: f.store,
        })
        const app = { global: { limiter, ...first }, mountTwice: { limiter, ...second } }
        await withServer(driver, app, async (server) => {
          const remaining: (number | null)[] = []
          for (let i = 0; i < 5; i++) remaining.push(exposedRemaining(await server.get('/')))
          expect(remaining).toEqual([4, 3, 2, 1, 0])
          expect((await server.get('/')).status).toBe(429)
        })
      }
    },
  },
  {
    name: 'answers the default 429 when an async onLimited settles having neither answered nor thrown',
    run: (driver) => {
      const f = behaviourFixture()
      const calls: Decision[] = []
      const onLimited = async (...args: unknown[]) => void calls.push(args.at(-1) as Decision)
      return withServer(driver, { global: f.options(perMinute(1), { onLimited }) }, async (server) => {
        await server.get('/')
        const r = await server.get('/')
        expect(r.status).toBe(429)
        expect(r.headers.get('content-type')).toBe('application/problem+json')
        expect(JSON.parse(r.body)).toMatchObject({ status: 429, title: 'Too Many Requests' })
        expect(r.headers.get('retry-after')).toBe('40')
        expect(calls.map((d) => d.reason)).toEqual(['limited'])
        expect(server.handled()).toBe(1)
        expect(server.errors).toEqual([])
      })
    },
  },
  {
    name: 'sends a custom limiter that answers something else than a decision to the error path, never through',
    run: (driver) => {
      const f = behaviourFixture()
      const real = createRateLimiter({ policies: perMinute(5), store: f.store })
      // A wrapper that forgot its `return`: limit() resolves undefined, which must not read as "skipped".
      const forgetful = withLimit(real, async (id, options) => {
        void real.limit(id, options)
        return undefined as unknown as Decision
      })
      return withServer(driver, { global: { limiter: forgetful } }, async (server) => {
        const r = await server.get('/')
        expect(r.status).toBe(500)
        expect(server.errors).toHaveLength(1)
        expect(server.errors[0]).toMatchObject({ code: 'ERR_FLOODGATE_INVALID_DECISION' })
        expect(server.handled()).toBe(0)
      })
    },
  },
  {
    name: 'sends a custom limiter whose decision names a policy no header field can quote to the error path',
    run: (driver) => {
      const f = behaviourFixture()
      const real = createRateLimiter({ policies: perMinute(5), store: f.store })
      // Each name is written between quotes as it is: a quote in it would break the RateLimit field.
      const renaming = withLimit(real, async (id, options) => {
        const decision = await real.limit(id, options)
        return { ...decision, policies: decision.policies.map((p) => ({ ...p, name: 'my "api"' })) }
      })
      return withServer(driver, { global: { limiter: renaming } }, async (server) => {
        const r = await server.get('/')
        expect(r.status).toBe(500)
        expect(r.headers.get('ratelimit')).toBeNull()
        expect(server.errors).toHaveLength(1)
        expect(server.errors[0]).toMatchObject({ code: 'ERR_FLOODGATE_INVALID_DECISION' })
        expect((server.errors[0] as Error).message).toContain('naming a policy "my \\"api\\""')
        expect(server.handled()).toBe(0)
      })
    },
  },
]

/** A custom limiter: `real` with another `limit()`. */
function withLimit(real: RateLimiter, limit: RateLimiter['limit']): RateLimiter {
  return {
    config: real.config,
    warnings: real.warnings,
    limit,
    peek: (id, options) => real.peek(id, options),
    reset: (id) => real.reset(id),
    close: () => real.close(),
  }
}

const storeFailureCases: AdapterCase[] = [
  {
    name: "passes with no rate-limit headers and reports the failure under onStoreError 'allow'",
    run: (driver) => {
      const f = behaviourFixture()
      const failures: unknown[] = []
      const options = {
        policies: perMinute(5),
        store: brokenStore(),
        logger: f.logger,
        onStoreFailure: (error: unknown) => void failures.push(error),
      }
      return withServer(driver, { global: options }, async (server) => {
        const r = await server.get('/')
        expect(r.status).toBe(200)
        expect(rateLimitHeadersOf(r)).toEqual({})
        expect(failures).toHaveLength(1)
        expect(failures[0]).toMatchObject({ code: 'ERR_FLOODGATE_STORE_ERROR' })
        expect(f.warnings.join('\n')).toContain('ERR_FLOODGATE_STORE_ERROR')
        expect(server.errors).toEqual([])
      })
    },
  },
  {
    name: "answers 503, never 429 nor through onLimited, with no rate-limit headers under onStoreError 'deny'",
    run: async (driver) => {
      // onLimited answers denials by the limits, not a store that could not decide.
      for (const onLimited of [undefined, driver.answerLimited(418, 'custom answer')]) {
        const f = behaviourFixture()
        const options = {
          policies: perMinute(5),
          store: brokenStore(),
          logger: f.logger,
          onStoreError: 'deny',
          onLimited,
        }
        await withServer(driver, { global: options }, async (server) => {
          const r = await server.get('/')
          expect(r.status).toBe(503)
          expect(rateLimitHeadersOf(r)).toEqual({})
          expect(r.headers.get('content-type')).toBe('application/problem+json')
          expect(JSON.parse(r.body)).toMatchObject({ status: 503, title: 'Service Unavailable' })
          expect(server.handled()).toBe(0)
        })
      }
    },
  },
]

function failing(kind: 'throws' | 'rejects', message: string): () => never | Promise<never> {
  return kind === 'throws'
    ? () => {
        throw new Error(message)
      }
    : () => Promise.reject(new Error(message))
}

function callbackErrorCases(): AdapterCase[] {
  const cases: AdapterCase[] = []
  for (const callback of ['key', 'tier', 'cost', 'skip'] as const) {
    for (const kind of ['throws', 'rejects'] as const) {
      cases.push({
        name: `sends a ${callback} callback that ${kind} to the error path once`,
        run: (driver) => {
          const f = behaviourFixture()
          const options = f.options(perMinute(5), { [callback]: failing(kind, `${callback} broke`) })
          return withServer(driver, { global: options }, async (server) => {
            const r = await server.get('/')
            expect(r.status).toBe(500)
            expect(server.errors).toHaveLength(1)
            expect((server.errors[0] as Error).message).toBe(`${callback} broke`)
            expect(server.handled()).toBe(0)
          })
        },
      })
    }
  }
  cases.push({
    name: 'sends a callback that throws or rejects with a value taken for "no error" to the error path as ERR_FLOODGATE_CALLBACK_FAILED',
    run: (driver) => {
      const f = behaviourFixture()
      // Express's next() reads each of these as success or routing, Fastify's done() continues on a
      // falsy one, and Koa never answers a null rejection: each would let the request through.
      const reasons = [undefined, null, false, 0, '', 'route', 'router']
      const key = (req: RequestWithHeaders) => {
        const reason = reasons[Number(req.headers['x-reason'])]
        if (req.headers['x-sync'] === '1') throw reason
        return Promise.reject(reason)
      }
      return withServer(driver, { global: f.options(perMinute(5), { key }) }, async (server) => {
        let seen = 0
        for (const sync of ['1', '0']) {
          for (let i = 0; i < reasons.length; i++) {
            const r = await server.get('/', { 'x-reason': String(i), 'x-sync': sync })
            expect(r.status).toBe(500)
            seen++
            expect(server.errors).toHaveLength(seen)
            expect(server.errors[seen - 1]).toMatchObject({ code: 'ERR_FLOODGATE_CALLBACK_FAILED' })
            expect((server.errors[seen - 1] as { value: unknown }).value).toBe(reasons[i])
          }
        }
        expect(server.handled()).toBe(0)
      })
    },
  })
  cases.push({
    name: 'sends a custom limiter that rejects with undefined to the error path, never through',
    run: (driver) => {
      const f = behaviourFixture()
      const real = createRateLimiter({ policies: perMinute(5), store: f.store })
      const rejecting = withLimit(real, () => Promise.reject(undefined))
      return withServer(driver, { global: { limiter: rejecting } }, async (server) => {
        expect((await server.get('/')).status).toBe(500)
        expect(server.errors).toHaveLength(1)
        expect(server.errors[0]).toMatchObject({ code: 'ERR_FLOODGATE_CALLBACK_FAILED' })
        expect(server.handled()).toBe(0)
      })
    },
  })
  cases.push({
    name: 'sends a key that is not a string to the error path as ERR_FLOODGATE_INVALID_IDENTIFIER, never to the route',
    run: (driver) => {
      const f = behaviourFixture()
      // A key read from a parsed body (`req.body.user`) is whatever the client sent: were a fresh
      // object its own bucket, or 42 the bucket of '42', a client would pick its limit.
      const values: unknown[] = [42, {}, ['user:1'], undefined, null, true]
      const key = (req: RequestWithHeaders) => {
        const value = values[Number(req.headers['x-value'])]
        return req.headers['x-async'] === '1' ? Promise.resolve(value) : value
      }
      return withServer(driver, { global: f.options(perMinute(1), { key }) }, async (server) => {
        let seen = 0
        for (const async of ['0', '1']) {
          for (let i = 0; i < values.length; i++) {
            // Twice each: a limit of 1 would deny the second, were the value ever counted.
            for (let n = 0; n < 2; n++) {
              expect((await server.get('/', { 'x-value': String(i), 'x-async': async })).status).toBe(500)
              seen++
              expect(server.errors).toHaveLength(seen)
              expect(server.errors[seen - 1]).toMatchObject({ code: 'ERR_FLOODGATE_INVALID_IDENTIFIER' })
            }
          }
        }
        expect(server.handled()).toBe(0)
      })
    },
  })
  cases.push({
    name: 'sends a cost that is not a whole number ≥ 1 to the error path as ERR_FLOODGATE_INVALID_COST',
    run: (driver) => {
      const f = behaviourFixture()
      return withServer(driver, { global: f.options(perMinute(5), { cost: () => 0.5 }) }, async (server) => {
        expect((await server.get('/')).status).toBe(500)
        expect(server.errors).toHaveLength(1)
        expect(server.errors[0]).toMatchObject({ code: 'ERR_FLOODGATE_INVALID_COST' })
      })
    },
  })
  return cases
}

const onLimitedErrorCases: AdapterCase[] = (['throws', 'rejects'] as const).map((kind) => ({
  name: `sends an onLimited that ${kind} a 429 error to the error path once, keeping the headers`,
  run: (driver) => {
    const f = behaviourFixture()
    const error = Object.assign(new Error('slow down'), { status: 429, statusCode: 429, expose: true })
    const onLimited =
      kind === 'throws'
        ? () => {
            throw error
          }
        : () => Promise.reject(error)
    const options = f.options(perMinute(1), { onLimited })
    return withServer(driver, { global: options }, async (server) => {
      await server.get('/')
      const r = await server.get('/')
      expect(r.status).toBe(429)
      expect(server.errors).toEqual([error])
      expect(r.headers.get('retry-after')).toBe('40')
      expect(r.headers.get('ratelimit')).toBe('"fw";r=0;t=40')
    })
  },
}))

onLimitedErrorCases.push(
  ...(['throws', 'rejects'] as const).map((kind) => ({
    name: `sends an onLimited that ${kind} null to the error path, never on to the route`,
    run: (driver: Parameters<AdapterCase['run']>[0]) => {
      const f = behaviourFixture()
      const onLimited =
        kind === 'throws'
          ? () => {
              throw null
            }
          : () => Promise.reject(null)
      return withServer(driver, { global: f.options(perMinute(1), { onLimited }) }, async (server) => {
        await server.get('/')
        const r = await server.get('/')
        expect(r.status).toBe(500)
        expect(server.errors).toHaveLength(1)
        expect(server.errors[0]).toMatchObject({ code: 'ERR_FLOODGATE_CALLBACK_FAILED', value: null })
        expect(server.handled()).toBe(1)
      })
    },
  })),
)

const optionCases: AdapterCase[] = [
  {
    name: 'rejects an unknown option name with a hint, when the app is built',
    run: async (driver) => {
      const f = behaviourFixture()
      const options = { polices: perMinute(5), store: f.store }
      await expect(driver.start({ global: options })).rejects.toMatchObject({
        code: 'ERR_FLOODGATE_UNKNOWN_OPTION',
        message: expect.stringContaining('Did you mean `policies`?'),
      })
    },
  },
  {
    name: 'rejects an ipv6Subnet outside 1–128 and a callback that is not a function',
    run: async (driver) => {
      const f = behaviourFixture()
      for (const extra of [{ ipv6Subnet: 0 }, { ipv6Subnet: 129 }, { ipv6Subnet: 56.5 }, { key: 'ip' }]) {
        await expect(driver.start({ global: f.options(perMinute(5), extra) })).rejects.toMatchObject({
          code: 'ERR_FLOODGATE_INVALID_OPTION',
        })
      }
    },
  },
]
