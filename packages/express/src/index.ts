import {
  callbackFailure,
  createRateLimitHandler,
  cutOffIfBegun,
  type DecidedOutcome,
  type Decision,
  EVERY_HOP_PROBE,
  leavesHeaders,
  type MiddlewareOptions,
  PROBLEM_HEADERS,
  type RateLimiter,
  type RequestBinding,
} from '@floodgate/core'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { exposeDecision } from './decision-property.js'

declare global {
  namespace Express {
    interface Request {
      /** Floodgate's decision on this request (unset when skipped). */
      rateLimit?: Decision | undefined
    }
  }
}

/** Answers a limited request instead of the default 429 problem+json (headers are already set). */
export type OnLimited = (req: Request, res: Response, next: NextFunction, decision: Decision) => unknown

export interface RateLimitOptions extends MiddlewareOptions<Request, OnLimited> {}

/** An Express middleware with its limiter, for `reset()`, `peek()` and `close()`. */
export type RateLimitMiddleware = RequestHandler & {
  /** The limiter of this middleware: `peek(key)`, `reset(key)`, `close()`. */
  readonly limiter: RateLimiter
}

/** Express's `trust proxy` setting for this request's app (sub-apps inherit their parent's). */
// A Router used without an Express app (mounted in plain node:http or Connect) has no `req.app`:
// nothing is trusted then.
const trustSetting = (req: Request): unknown => req.app?.get?.('trust proxy')

/** `trust proxy` off: false (the default), 0 hops, or unset. */
const trustsNoProxy = (req: Request): boolean => {
  const setting = trustSetting(req)
  return setting === false || setting === 0 || setting === undefined
}

/**
 * A `trust proxy` setting that trusts at least EVERY_HOP public addresses in a row (`true`, a hop
 * count of 100, a function that accepts any address). Asks the trust function Express compiles
 * from the setting (`trust proxy fn`), as Express itself does for each hop. Runs once, on the first
 * request carrying a forwarding header.
 */
function trustsEveryHop(req: Request): boolean {
  const trust: unknown = req.app?.get?.('trust proxy fn')
  if (typeof trust !== 'function') return false
  try {
    return EVERY_HOP_PROBE.every((address, hop) => trust(address, hop))
  } catch {
    return false
  }
}

const binding: RequestBinding<Request> = {
  // With no proxy trusted, Express's req.ip is the socket's address after parsing X-Forwarded-For
  // for nothing: read the socket directly, ~2 µs less per request.
  ip: (req) => (trustsNoProxy(req) ? req.socket.remoteAddress : req.ip),
  headers: (req) => req.headers,
  trustsProxy: (req) => !trustsNoProxy(req),
  trustsEveryHop,
  // Express lists the forwarded addresses it used, and none when it did not trust the peer.
  usedForwarded: (req) => req.ips.length > 0,
  marks: countedMarks,
  // Express 4's router layer, and the `router` package's of Express 5 (as express-rate-limit checks).
  requestFrames: /\bLayer\.(?:handle \[as handle_request\]|handleRequest) /,
}

/**
 * Where a limiter records that it counted a request: `res.locals`, Express's object for the
 * request's own variables (a null-prototype object made for every request before any middleware
 * runs). Not `req`: Express swaps the request's prototype on every request, so V8 gives each `req`
 * a hidden class of its own, and adding a property to it builds another one, about 3–5 µs a
 * property on this machine (decision-property.ts keeps `req.rateLimit` off `req` too).
 */
function countedMarks(req: Request): object {
  const locals: unknown = req.res?.locals
  return typeof locals === 'object' && locals !== null ? locals : req
}

/** Rate-limits every request that reaches it; options are validated here, once. */
export function rateLimit(options: RateLimitOptions): RateLimitMiddleware {
  const handler = createRateLimitHandler(options, binding)
  const { onLimited } = handler

  // Express 4 ignores a returned promise, so every rejection is routed to next(err) here. No async
  // frame: the limiter's promise, on a remote store, is the only one a request waits on.
  function answer(req: Request, res: Response, next: NextFunction, decision: Decision | undefined) {
    if (decision === undefined) return next()
    let outcome: DecidedOutcome
    try {
      // Another limiter's decision that binds first keeps its headers and `req.rateLimit`.
      outcome = handler.outcome(decision, req.rateLimit)
      if (outcome.action === 'keep') return next()
      exposeDecision(req, decision)
      // An earlier middleware may have answered already: Koa and Fastify skip the headers then too.
      if (!res.headersSent && !leavesHeaders(outcome, res)) {
        for (const name of outcome.clears) res.removeHeader(name)
        for (const name in outcome.headers) res.setHeader(name, outcome.headers[name]!)
      }
    } catch (error) {
      return next(error)
    }
    if (outcome.action === 'pass') return next()
    // Denied: the route never runs. A response an earlier middleware began gets no answer (cut off
    // if not ended).
    if (cutOffIfBegun(res)) return
    if (outcome.action === 'limited' && onLimited !== undefined) {
      limitedBy(onLimited, req, res, next, decision, outcome.body)
      return
    }
    sendProblem(res, outcome.status, outcome.body)
  }

  // On the memory store the decision is there at once: answer in the same call, with no promise.
  const middleware: RequestHandler = (req, res, next) => {
    const decided = handler.decideNow(req)
    if (decided instanceof Promise) decided.then((decision) => answer(req, res, next, decision), next)
    else answer(req, res, next, decided)
  }
  return Object.assign(middleware, { limiter: handler.limiter })
}

// The user's answer; a throw or a rejection reaches Express's error path. An onLimited returning a
// promise is done when it settles: if by then it has done nothing at all (no response begun, no
// status set, no next), the default 429 goes out, as on Koa and Fastify, rather than a request left
// hanging. A status set says it answers, perhaps later from a callback (an answer sent for it then
// would make that callback throw), so it is left be, as is one returning anything but a promise.
function limitedBy(
  onLimited: OnLimited,
  req: Request,
  res: Response,
  next: NextFunction,
  decision: Decision,
  body: string,
): void {
  let nextCalled = false
  const onward = ((error?: unknown) => {
    nextCalled = true
    next(error)
  }) as NextFunction
  try {
    const result = onLimited(req, res, onward, decision)
    if (!isThenable(result)) return
    const settled = () => {
      if (!nextCalled && !res.headersSent && res.statusCode === 200) sendProblem(res, 429, body)
    }
    result.then(settled, (error: unknown) => onward(callbackFailure(error))).then(undefined, onward)
  } catch (error) {
    onward(callbackFailure(error))
  }
}

function sendProblem(res: Response, status: number, body: string): void {
  res.statusCode = status
  for (const name in PROBLEM_HEADERS) res.setHeader(name, PROBLEM_HEADERS[name]!)
  // As Koa and Fastify send it; Node leaves it out of an answer to HEAD.
  res.setHeader('content-length', Buffer.byteLength(body))
  res.end(body)
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function'
  )
}
