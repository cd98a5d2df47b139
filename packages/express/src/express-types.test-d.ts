// Type tests (checked by tsc -b): rateLimit()'s options and result on Express's own types, and the
// `req.rateLimit` augmentation. Each `@ts-expect-error` line is a use the public types must refuse
// (the runtime refuses it too); the rest must compile.
import { createRateLimiter, type Decision, fixedWindow, type RateLimiter } from '@floodgate/core'
import {
  type OnLimited,
  type RateLimitMiddleware,
  type RateLimitOptions,
  rateLimit,
} from '@floodgate/express'
import express, { type NextFunction, type Request, type RequestHandler, type Response, Router } from 'express'

/** True when A and B are the same type; `any` equals only `any`, optional differs from required. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Expect<T extends true> = T

const policies = fixedWindow({ limit: 100, window: '1 m' })

// The middleware is an Express RequestHandler (app-level, per path, per route, in a Router) that
// carries its limiter, read-only.
const limited = rateLimit({ policies })
const app = express()
const router = Router()
app.use(limited)
app.use('/api', rateLimit({ policies }))
app.get('/search', limited, (_req, res) => {
  res.send('ok')
})
router.use(limited)
router.post('/login', rateLimit({ policies }), (_req, res) => {
  res.end()
})
app.use(router)
export const handler: RequestHandler = limited
export const limiter: RateLimiter = limited.limiter
// @ts-expect-error the middleware's limiter is read-only
limited.limiter = createRateLimiter({ policies })
export type Middleware = [
  Expect<Equal<ReturnType<typeof rateLimit>, RateLimitMiddleware>>,
  Expect<Equal<RateLimitMiddleware['limiter'], RateLimiter>>,
]

// req.rateLimit is the decision or undefined (skipped, or before the middleware): read it after a
// check, and clear it by assigning undefined.
app.get('/remaining', (req, res) => {
  const decision: Decision | undefined = req.rateLimit
  // @ts-expect-error the decision may be undefined
  req.rateLimit.remaining
  res.json({ remaining: decision?.remaining, tier: req.rateLimit?.tier })
})
app.use((req, _res, next) => {
  req.rateLimit = undefined
  next()
})
export type RequestAugmentation = Expect<Equal<Request['rateLimit'], Decision | undefined>>

// key, tier, cost and skip receive Express's Request and may answer a value or a promise of one.
export type Callbacks = [
  Expect<Equal<Parameters<NonNullable<RateLimitOptions['key']>>, [req: Request]>>,
  Expect<Equal<ReturnType<NonNullable<RateLimitOptions['key']>>, string | Promise<string>>>,
  Expect<Equal<Parameters<NonNullable<RateLimitOptions['tier']>>, [req: Request]>>,
  Expect<
    Equal<ReturnType<NonNullable<RateLimitOptions['tier']>>, string | undefined | Promise<string | undefined>>
  >,
  Expect<Equal<Parameters<NonNullable<RateLimitOptions['cost']>>, [req: Request]>>,
  Expect<Equal<ReturnType<NonNullable<RateLimitOptions['cost']>>, number | Promise<number>>>,
  Expect<Equal<Parameters<NonNullable<RateLimitOptions['skip']>>, [req: Request]>>,
  Expect<Equal<ReturnType<NonNullable<RateLimitOptions['skip']>>, boolean | Promise<boolean>>>,
]
rateLimit({
  policies,
  key: (req) => req.get('x-api-key') ?? req.ip ?? 'anonymous',
  tier: (req) => (req.query.plan === 'pro' ? 'pro' : undefined),
  cost: (req) => (req.method === 'POST' ? 5 : 1),
  skip: (req) => req.path === '/health',
})
rateLimit({
  policies,
  key: async (req) => `user:${req.params.id}`,
  tier: async () => 'pro',
  cost: async () => 2,
  skip: async () => false,
})
// @ts-expect-error a key is a string
rateLimit({ policies, key: () => 42 })
// @ts-expect-error a cost is a number
rateLimit({ policies, cost: async () => '2' })
// @ts-expect-error skip answers a boolean
rateLimit({ policies, skip: () => 'yes' })
// @ts-expect-error tier answers a tier's name
rateLimit({ policies, tier: () => 1 })
// @ts-expect-error Express's Request has no `nope`
rateLimit({ policies, key: (req) => req.nope })

// onLimited gets (req, res, next, decision), may be async, and its result is not used.
export type OnLimitedSignature = [
  Expect<Equal<OnLimited, (req: Request, res: Response, next: NextFunction, decision: Decision) => unknown>>,
  Expect<Equal<NonNullable<RateLimitOptions['onLimited']>, OnLimited>>,
]
rateLimit({
  policies,
  onLimited: (_req, res, _next, decision) => {
    res.status(429).json({ retryAfterMs: decision.retryAfterMs })
  },
})
rateLimit({ policies, onLimited: async (_req, _res, next) => next(new Error('limited')) })
// @ts-expect-error the decision is a Decision
rateLimit({ policies, onLimited: (_req, _res, _next, decision: string) => decision })

// headers: one format, a list, or false; limiter: an existing limiter instead of limiter options.
rateLimit({ policies, headers: 'draft-7' })
rateLimit({ policies, headers: ['draft-8', 'legacy'] })
rateLimit({ policies, headers: false, ipv6Subnet: 64 })
rateLimit({ limiter: createRateLimiter({ policies }) })
// @ts-expect-error `true` is not a header setting (the default is left out, or listed)
rateLimit({ policies, headers: true })
// @ts-expect-error not a header format
rateLimit({ policies, headers: ['draft-9'] })
// @ts-expect-error a limiter is a RateLimiter
rateLimit({ limiter: {} })
// @ts-expect-error express-rate-limit's `windowMs` is not an option (runtime: unknown option, with the fix)
rateLimit({ policies, windowMs: 60_000 })
