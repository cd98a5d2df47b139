import { format } from 'node:util'
import {
  callbackFailure,
  createRateLimitHandler,
  type Decision,
  EVERY_HOP,
  type HeaderMap,
  leavesHeaders,
  type MiddlewareOptions,
  PROBLEM_HEADERS,
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
  rateLimit?: Decision | undefined
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
  // Koa takes the left-most of the last `maxIpsCount` forwarded addresses (all of them without it).
  trustsEveryHop: (ctx) => ctx.app.proxy && !(ctx.app.maxIpsCount >= 1 && ctx.app.maxIpsCount < EVERY_HOP),
  forwardedHeader: (ctx) => {
    // Exactly the header Koa reads: none for '' (Koa's constructor defaults only a missing name).
    const name: unknown = ctx.app.proxyIpHeader
    return typeof name === 'string' ? name.toLowerCase() : 'x-forwarded-for'
  },
  // Koa's middleware chain: koa-compose's `dispatch` calls each middleware.
  requestFrames: /\bdispatch \(.*[\\/]koa-compose[\\/]/,
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
    // Another limiter's decision that binds first keeps its headers and `ctx.state.rateLimit`.
    const outcome = handler.outcome(decision, ctx.state.rateLimit)
    if (outcome.action === 'keep') return next()
    ctx.state.rateLimit = decision
    const { res } = ctx
    if (leavesHeaders(outcome, res)) return next()
    const { headers } = outcome
    if (!res.headersSent) {
      for (const name of outcome.clears) res.removeHeader(name)
      for (const name in headers) res.setHeader(name, headers[name]!)
    }
    // Whatever follows (a later middleware, onLimited, or one upstream that throws on the way out
    // of this answer), an error answered by Koa carries these headers, and none of another's.
    keepOnError(ctx, headers)
    if (outcome.action === 'pass') return next()
    if (outcome.action === 'limited' && onLimited !== undefined) {
      return answerBy(onLimited, ctx, decision, outcome.body)
    }
    sendProblem(ctx, outcome.status, outcome.body)
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
  try {
    await onLimited(ctx, decision)
  } catch (error) {
    throw callbackFailure(error)
  }
  // An onLimited that neither answers nor throws must not turn into Koa's 404, nor let the request
  // through: it gets the default 429, as on Express and Fastify.
  const status = ctx.response as { _explicitStatus?: boolean }
  if (ctx.body == null && ctx.status === 404 && status._explicitStatus !== true && !ctx.res.headersSent) {
    sendProblem(ctx, 429, body)
  }
}

/**
 * Answers with a problem body through Koa; or, when an earlier middleware took the response over
 * (`ctx.respond = false`) and Koa will not send a body set now, writes it to the response itself
 * rather than leave the request hanging.
 */
function sendProblem(ctx: Context, status: number, body: string): void {
  const { res } = ctx
  if (ctx.respond === false) {
    if (!res.headersSent) {
      res.statusCode = status
      for (const name in PROBLEM_HEADERS) res.setHeader(name, PROBLEM_HEADERS[name]!)
      res.end(body)
    }
    return
  }
  ctx.status = status
  if (!res.headersSent) for (const name in PROBLEM_HEADERS) res.setHeader(name, PROBLEM_HEADERS[name]!)
  ctx.body = body
}

/** The rate-limit headers set on this request, for {@link onerrorKeepingHeaders}. */
const HEADERS = Symbol('floodgate.headers')
/** The `ctx.onerror` that {@link onerrorKeepingHeaders} stands in front of. */
const ONERROR = Symbol('floodgate.onerror')

type KeepingContext = Context & {
  [HEADERS]?: HeaderMap
  [ONERROR]?: (this: Context, error: unknown) => void
}

/**
 * Koa answers an error that reaches it (from a later middleware, or from onLimited) in
 * `ctx.onerror`, which first removes every header set so far and then sets the error's own
 * `headers`. This request's `ctx.onerror` hands the rate-limit headers over that way, for that
 * one call only: the error object itself is left as it was (one error object may be thrown on
 * every request), and an error whose `headers` cannot be set keeps its status, without them.
 */
function keepOnError(ctx: Context, headers: HeaderMap): void {
  const c = ctx as KeepingContext
  // A second limiter on the same request writes its headers only when they replace the first's.
  c[HEADERS] = headers
  if (c.onerror !== onerrorKeepingHeaders) {
    c[ONERROR] = c.onerror as (this: Context, error: unknown) => void
    c.onerror = onerrorKeepingHeaders
  }
}

function onerrorKeepingHeaders(this: KeepingContext, thrown: unknown): void {
  // A node-style callback's "no error": Koa's own returns at once, even called detached (no `this`).
  if (thrown == null) {
    if (this !== undefined) this[ONERROR]!.call(this, thrown)
    return
  }
  const onerror = this[ONERROR]!
  const headers = this[HEADERS]
  if (headers === undefined) {
    onerror.call(this, thrown)
    return
  }
  // Koa turns anything but an Error into this Error before answering; done here first, so that
  // the headers can travel on it.
  const error = isError(thrown) ? thrown : new Error(format('non-error thrown: %j', thrown))
  let own: PropertyDescriptor | undefined
  try {
    own = Object.getOwnPropertyDescriptor(error, 'headers')
    const theirs = (error as { headers?: Record<string, unknown> }).headers
    Object.defineProperty(error, 'headers', {
      value: { ...headers, ...theirs },
      configurable: true,
      enumerable: true,
      writable: true,
    })
  } catch {
    // Frozen, or `headers` read-only: Koa answers the error as it is.
    onerror.call(this, error)
    return
  }
  try {
    onerror.call(this, error)
  } finally {
    if (own === undefined) delete (error as { headers?: unknown }).headers
    else Object.defineProperty(error, 'headers', own)
  }
}

/** Koa's own test: an Error of this realm or another. */
function isError(value: unknown): value is Error {
  return Object.prototype.toString.call(value) === '[object Error]' || value instanceof Error
}
