// The guard and filter of docs/nestjs.md ("Limiting by user"), as the page gives them but for the
// limiter's store, which counts on a clock the tests move (page-code.test.ts checks the rest).
import {
  type ArgumentsHost, type CanActivate, Catch, type ExceptionFilter, type ExecutionContext,
  HttpException, HttpStatus, Injectable, ServiceUnavailableException,
} from '@nestjs/common'
import {
  clientIpKey, createRateLimiter, DEFAULT_HEADER_FORMATS, fixedWindow,
  PROBLEM_CACHE_CONTROL, PROBLEM_CONTENT_TYPE, problemDetails, rateLimitHeaders,
} from '@floodgate/core'
import { memoryStore } from '@floodgate/core'
import { manualClock } from '@floodgate/core/testing'

export const clock = manualClock(0)
export const limiter = createRateLimiter({ policies: fixedWindow({ limit: 3, window: '1 m' }), store: memoryStore({ clock }) })

export class TooManyRequestsException extends HttpException {}

@Injectable()
export class RateLimitGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest() // an Express or a Fastify request
    const res = context.switchToHttp().getResponse()
    const key = req.user ? `user:${req.user.id}` : (clientIpKey(req.ip) ?? 'unknown-client')
    const decision = await limiter.limit(key)
    for (const [name, value] of Object.entries(rateLimitHeaders(decision, DEFAULT_HEADER_FORMATS))) res.header(name, value)
    if (decision.allowed) return true
    if (decision.reason === 'store-error') throw new ServiceUnavailableException() // onStoreError: 'deny'
    throw new TooManyRequestsException(problemDetails(decision), HttpStatus.TOO_MANY_REQUESTS)
  }
}

@Catch(TooManyRequestsException)
export class TooManyRequestsFilter implements ExceptionFilter {
  catch(exception: TooManyRequestsException, host: ArgumentsHost) {
    const res = host.switchToHttp().getResponse() // Express and Fastify both have these three
    res.status(exception.getStatus()).header('content-type', PROBLEM_CONTENT_TYPE)
    res.header('cache-control', PROBLEM_CACHE_CONTROL) // no CDN stores one client's 429 for others
    res.send(JSON.stringify(exception.getResponse()))
  }
}
