import {
  createRateLimitHandler,
  type Decision,
  type HeaderMap,
  type MiddlewareOptions,
  PROBLEM_CONTENT_TYPE,
  type RateLimiter,
  type RequestBinding,
} from '@floodgate/core'
import type { Context, Middleware, Next } from 'koa'

/**
 * What the middleware adds to `ctx.state`. Koa's `DefaultState` has it already; an app with a state
 * type of its own adds it: `new Koa<MyState & RateLimitState>()`.
 */
export interface RateLimitState {
  /** Floodgate's decision on this request (unset when skipped). */
  rateLimit?: Decision
}

declare module 'koa' {
  interface DefaultState extends RateLimitState {}
}

/**
 * Answers a limited request instead of the default 429 problem+json. The rate-limit headers are
 * already set, and survive a throw such as `ctx.throw(429)`.
 */
export type OnLimited = (ctx: Context, decision: Decision) => unknown

export interface RateLimitOptions extends MiddlewareOptions<Context, OnLimited> {}

/** A Koa middleware with its limiter, for `reset()`, `peek()` and `close()`. */
export type RateLimitMiddleware = Middleware & {
  /** The limiter of this middleware: `peek(key)`, `reset(key)`, `close()`. */
  readonly limiter: RateLimiter
}

const binding: RequestBinding<Context> = {
  // Through ctx.request and ctx.req, not Koa's ctx delegates: one property hop less per request.
  ip: (ctx) => ctx.request.ip,
  headers: (ctx) => ctx.req.headers,
  trustsProxy: (ctx) => ctx.app.proxy,
  trustsEveryHop: (ctx) => ctx.app.proxy && !(ctx.app.maxIpsCount > 0),
}

/** Rate-limits every request that reaches it; options are validated here, once. */
export function rateLimit(options: RateLimitOptions): RateLimitMiddleware {
  const handler = createRateLimitHandler(options, binding)
  const { onLimited } = handler

  // No async frame: on the memory store the decision is there at once, and a request passing
  // through waits only on the rest of the app. Headers go straight to Node's response: Koa's
  // ctx.set() normalises through entries, map and forEach, about 1 µs a header. Koa skips headers
  // once they are sent; so does this.
  function answer(ctx: Context, next: Next, decision: Decision | undefined): Promise<void> | undefined {
    if (decision === undefined) return next()
    const outcome = handler.outcome(decision)
    ctx.state.rateLimit = decision
    const { res } = ctx
    const { headers } = outcome
    if (!res.headersSent) for (const name in headers) res.setHeader(name, headers[name]!)
    if (outcome.action === 'pass') {
      return next().then(undefined, (error: unknown) => {
        throw withHeaders(error, headers)
      })
    }
    if (outcome.action === 'limited' && onLimited !== undefined) {
      return answerBy(onLimited, ctx, decision, outcome.body).then(undefined, (error: unknown) => {
        throw withHeaders(error, headers)
      })
    }
    ctx.status = outcome.status
    if (!res.headersSent) res.setHeader('content-type', PROBLEM_CONTENT_TYPE)
    ctx.body = outcome.body
    return undefined
  }

  const middleware = (ctx: Context, next: Next): Promise<void> | undefined => {
    const decided = handler.decideNow(ctx)
    if (decided instanceof Promise) return decided.then((decision) => answer(ctx, next, decision))
    return answer(ctx, next, decided)
  }
  return Object.assign(middleware, { limiter: handler.limiter })
}

/** The user's answer as a promise: a throw inside it rejects, like a rejection. */
async function answerBy(onLimited: OnLimited, ctx: Context, decision: Decision, body: string): Promise<void> {
  await onLimited(ctx, decision)
  // An onLimited that neither answers nor throws must not turn into Koa's 404, nor let the request
  // through: it gets the default 429, as on Express and Fastify.
  const status = ctx.response as { _explicitStatus?: boolean }
  if (ctx.body == null && ctx.status === 404 && status._explicitStatus !== true && !ctx.res.headersSent) {
    ctx.status = 429
    ctx.res.setHeader('content-type', PROBLEM_CONTENT_TYPE)
    ctx.body = body
  }
}

// Koa's error handler drops every header set before the throw and keeps only `err.headers`.
function withHeaders(error: unknown, headers: HeaderMap): unknown {
  if (error !== null && typeof error === 'object' && Object.isExtensible(error)) {
    const own = (error as { headers?: Record<string, unknown> }).headers
    ;(error as { headers?: unknown }).headers = { ...headers, ...own }
  }
  return error
}
