import {
  createRateLimitHandler,
  type Decision,
  type MiddlewareOptions,
  PROBLEM_CONTENT_TYPE,
  type RateLimiter,
  type RequestBinding,
} from '@floodgate/core'
import type { NextFunction, Request, RequestHandler, Response } from 'express'

declare global {
  namespace Express {
    interface Request {
      /** Floodgate's decision on this request (unset when skipped). */
      rateLimit?: Decision
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

const binding: RequestBinding<Request> = {
  ip: (req) => req.ip,
  headers: (req) => req.headers,
  trustsProxy: (req) => {
    const setting: unknown = req.app.get('trust proxy')
    return setting !== false && setting !== 0 && setting !== undefined
  },
  trustsEveryHop: (req) => req.app.get('trust proxy') === true,
}

/** Rate-limits every request that reaches it; options are validated here, once. */
export function rateLimit(options: RateLimitOptions): RateLimitMiddleware {
  const handler = createRateLimitHandler(options, binding)
  const { onLimited } = handler

  // Express 4 ignores a returned promise, so every rejection is routed to next(err) here.
  async function run(req: Request, res: Response, next: NextFunction): Promise<void> {
    let outcome: Awaited<ReturnType<typeof handler.handle>>
    try {
      outcome = await handler.handle(req)
    } catch (error) {
      return next(error)
    }
    if (outcome.action === 'skip') return next()
    req.rateLimit = outcome.decision
    for (const name in outcome.headers) res.setHeader(name, outcome.headers[name]!)
    if (outcome.action === 'pass') return next()
    if (outcome.action === 'limited' && onLimited !== undefined) {
      try {
        await onLimited(req, res, next, outcome.decision)
      } catch (error) {
        next(error)
      }
      return
    }
    res.statusCode = outcome.status
    res.setHeader('Content-Type', PROBLEM_CONTENT_TYPE)
    res.end(outcome.body)
  }

  const middleware: RequestHandler = (req, res, next) => {
    void run(req, res, next)
  }
  return Object.assign(middleware, { limiter: handler.limiter })
}
