// Type tests (checked by tsc -b): rateLimit()'s options and result on Koa's own types (state-types
// pins ctx.state.rateLimit). Each `@ts-expect-error` line is a use the public types must refuse
// (the runtime refuses it too); the rest must compile.
import { createRateLimiter, type Decision, fixedWindow, type RateLimiter } from '@floodgate/core'
import { type OnLimited, type RateLimitMiddleware, type RateLimitOptions, rateLimit } from '@floodgate/koa'
import Router from '@koa/router'
import Koa, { type Context, type Middleware } from 'koa'

/** True when A and B are the same type; `any` equals only `any`, optional differs from required. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Expect<T extends true> = T

const policies = fixedWindow({ limit: 100, window: '1 m' })

// The middleware is a Koa Middleware (app-wide or on a @koa/router route) carrying its limiter.
const limited = rateLimit({ policies })
const app = new Koa()
const router = new Router()
app.use(limited)
router.get('/search', rateLimit({ policies }), (ctx) => {
  const decision: Decision | undefined = ctx.state.rateLimit
  // @ts-expect-error the decision may be undefined
  ctx.state.rateLimit.remaining
  ctx.body = { remaining: decision?.remaining }
})
app.use(router.routes())
export const middleware: Middleware = limited
export const limiter: RateLimiter = limited.limiter
// @ts-expect-error the middleware's limiter is read-only
limited.limiter = createRateLimiter({ policies })
export type MiddlewareTypes = Expect<Equal<RateLimitMiddleware['limiter'], RateLimiter>>

// key, tier, cost and skip receive Koa's Context and may answer a value or a promise of one.
export type Callbacks = [
  Expect<Equal<Parameters<NonNullable<RateLimitOptions['key']>>, [req: Context]>>,
  Expect<Equal<ReturnType<NonNullable<RateLimitOptions['key']>>, string | Promise<string>>>,
  Expect<Equal<Parameters<NonNullable<RateLimitOptions['tier']>>, [req: Context]>>,
  Expect<Equal<Parameters<NonNullable<RateLimitOptions['cost']>>, [req: Context]>>,
  Expect<Equal<ReturnType<NonNullable<RateLimitOptions['cost']>>, number | Promise<number>>>,
  Expect<Equal<Parameters<NonNullable<RateLimitOptions['skip']>>, [req: Context]>>,
  Expect<Equal<ReturnType<NonNullable<RateLimitOptions['skip']>>, boolean | Promise<boolean>>>,
]
rateLimit({
  policies,
  key: (ctx) => ctx.get('x-api-key') || ctx.ip,
  tier: (ctx) => (ctx.query.plan === 'pro' ? 'pro' : undefined),
  cost: (ctx) => (ctx.method === 'POST' ? 5 : 1),
  skip: (ctx) => ctx.path === '/health',
})
rateLimit({ policies, key: async (ctx) => `user:${ctx.ip}`, cost: async () => 2, skip: async () => false })
// @ts-expect-error a key is a string
rateLimit({ policies, key: () => 42 })
// @ts-expect-error skip answers a boolean
rateLimit({ policies, skip: async () => 'yes' })

// onLimited gets (ctx, decision) and may be async; headers and limiter as in every adapter.
export type OnLimitedSignature = Expect<Equal<OnLimited, (ctx: Context, decision: Decision) => unknown>>
rateLimit({
  policies,
  onLimited: (ctx, decision) => {
    ctx.status = 429
    ctx.body = { retryAfterMs: decision.retryAfterMs }
  },
})
rateLimit({ policies, onLimited: async (ctx) => ctx.throw(429) })
rateLimit({ limiter: createRateLimiter({ policies }), headers: ['draft-6', 'legacy'] })
// @ts-expect-error Koa's onLimited has no `next`: (ctx, decision)
rateLimit({ policies, onLimited: (_ctx, _decision, next: () => void) => next() })
// @ts-expect-error not a header format
rateLimit({ policies, headers: 'draft-9' })
