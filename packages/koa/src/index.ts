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

declare module 'koa' {
  interface DefaultState {
    /** Floodgate's decision on this request (unset when skipped). */
    rateLimit?: Decision
  }
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
  ip: (ctx) => ctx.ip,
  headers: (ctx) => ctx.headers,
  trustsProxy: (ctx) => ctx.app.proxy,
  trustsEveryHop: (ctx) => ctx.app.proxy && !(ctx.app.maxIpsCount > 0),
}

/** Rate-limits every request that reaches it; options are validated here, once. */
export function rateLimit(options: RateLimitOptions): RateLimitMiddleware {
  const handler = createRateLimitHandler(options, binding)
  const { onLimited } = handler

  const middleware = async (ctx: Context, next: Next): Promise<void> => {
    const outcome = await handler.handle(ctx)
    if (outcome.action === 'skip') return next()
    ctx.state.rateLimit = outcome.decision
    ctx.set(outcome.headers)
    if (outcome.action === 'pass') return withHeaders(next(), outcome.headers)
    if (outcome.action === 'limited' && onLimited !== undefined) {
      return withHeaders(
        Promise.resolve().then(() => onLimited(ctx, outcome.decision)),
        outcome.headers,
      )
    }
    ctx.status = outcome.status
    ctx.set('Content-Type', PROBLEM_CONTENT_TYPE)
    ctx.body = outcome.body
  }
  return Object.assign(middleware, { limiter: handler.limiter })
}

// Koa's error handler drops every header set before the throw and keeps only `err.headers`.
async function withHeaders(work: Promise<unknown>, headers: HeaderMap): Promise<void> {
  try {
    await work
  } catch (error) {
    if (error !== null && typeof error === 'object' && Object.isExtensible(error)) {
      const own = (error as { headers?: Record<string, unknown> }).headers
      ;(error as { headers?: unknown }).headers = { ...headers, ...own }
    }
    throw error
  }
}
