import { describeValue, ERROR_CODES, FloodgateError, invalidOption } from '../errors.js'
import { type HeaderFormat, resolveHeaderFormats } from '../headers.js'
import { DEFAULT_IPV6_SUBNET } from '../ip/canonical-ip.js'
import { createRateLimiterFromResolved, type RateLimiter } from '../limiter.js'
import { LIMITER_OPTIONS, type RateLimiterOptions, resolveLimiterOptions } from '../limiter-options.js'
import { MIDDLEWARE_PEER_HINTS } from '../peer-options.js'
import { rejectUnknownOptions, requireObject } from '../policies/common.js'

type MaybePromise<T> = T | Promise<T>

/**
 * Options of every adapter's middleware: everything `createRateLimiter` takes (or `limiter`, an
 * existing one), plus how a request maps to an identifier, tier and cost. `Req` is what the
 * framework hands to callbacks (Express `req`, Koa `ctx`, Fastify `request`); `OnLimited` is the
 * framework's own custom-answer callback.
 */
export interface MiddlewareOptions<Req, OnLimited = never> extends RateLimiterOptions {
  /** An existing limiter to use instead of building one from the limiter options. */
  limiter?: RateLimiter | undefined
  /**
   * The identifier a request is counted under. Default: the client IP as the framework resolves
   * it under its trust-proxy setting, canonicalised (`ip:192.0.2.1`, `ip:2001:db8:0:ab00::/56`).
   * A request without a usable address is counted under `unknown-client`, with a warning.
   */
  key?: ((req: Req) => MaybePromise<string>) | undefined
  /** The tier (plan) whose policies apply; undefined means the limiter's `defaultTier`. */
  tier?: ((req: Req) => MaybePromise<string | undefined>) | undefined
  /** What this request costs, a whole number ≥ 1. Default 1. */
  cost?: ((req: Req) => MaybePromise<number>) | undefined
  /**
   * `true` to let the request through uncounted and without rate-limit headers. Any other value
   * counts the request (one that is not a boolean, `undefined` or `null` is warned once).
   */
  skip?: ((req: Req) => MaybePromise<boolean>) | undefined
  /** Header formats to write: one, several, or false for none. Default `['draft-8', 'legacy']`. */
  headers?: HeaderFormat | readonly HeaderFormat[] | false | undefined
  /** Prefix length (1–128 bits) an IPv6 client is grouped by in the default key. Default 56. */
  ipv6Subnet?: number | undefined
  /** Replaces the default 429 answer. Its signature is the framework's (see each adapter). */
  onLimited?: OnLimited | undefined
}

/** The middleware option names beyond the limiter's own. */
export const MIDDLEWARE_OPTIONS = [
  'limiter',
  'key',
  'tier',
  'cost',
  'skip',
  'headers',
  'ipv6Subnet',
  'onLimited',
] as const

/** `MiddlewareOptions` after validation, with the limiter built and defaults filled in. */
export interface ResolvedMiddlewareOptions<Req, OnLimited> {
  /** The limiter given, or the one built from the limiter options. */
  limiter: RateLimiter
  /** The `key` callback; undefined means the canonical client IP. */
  key: ((req: Req) => MaybePromise<string>) | undefined
  /** The `tier` callback, if any. */
  tier: ((req: Req) => MaybePromise<string | undefined>) | undefined
  /** The `cost` callback; undefined means cost 1. */
  cost: ((req: Req) => MaybePromise<number>) | undefined
  /** The `skip` callback, if any. */
  skip: ((req: Req) => MaybePromise<boolean>) | undefined
  /** Header formats to write; empty for none. Default `['draft-8', 'legacy']`. */
  headerFormats: readonly HeaderFormat[]
  /** IPv6 grouping of the default key, in bits. Default 56. */
  ipv6Subnet: number
  /** The adapter's custom answer to a limited request, if any. */
  onLimited: OnLimited | undefined
}

/**
 * Validates middleware options once, when the middleware is created, and builds the limiter
 * unless one was given. `adapterOptions` names options the adapter itself handles (Fastify's
 * `global`); they are accepted and ignored here.
 */
export function resolveMiddlewareOptions<Req, OnLimited>(
  options: MiddlewareOptions<Req, OnLimited>,
  adapterOptions: readonly string[] = [],
  where = 'rateLimit()',
): ResolvedMiddlewareOptions<Req, OnLimited> {
  const o = requireObject(options, argumentOf(where))
  const { headerFormats, ipv6Subnet } = checkMiddlewareOptions(o, adapterOptions, where)
  return {
    limiter: limiterOf(o, [...MIDDLEWARE_OPTIONS, ...adapterOptions]),
    key: o.key as ResolvedMiddlewareOptions<Req, OnLimited>['key'],
    tier: o.tier as ResolvedMiddlewareOptions<Req, OnLimited>['tier'],
    cost: o.cost as ResolvedMiddlewareOptions<Req, OnLimited>['cost'],
    skip: o.skip as ResolvedMiddlewareOptions<Req, OnLimited>['skip'],
    headerFormats,
    ipv6Subnet,
    onLimited: o.onLimited as OnLimited | undefined,
  }
}

/**
 * Checks the option names and the middleware's own options without building a limiter: for
 * defaults that are completed later (Fastify's plugin options under `global: false`). `where` names
 * the call in messages (`fastifyRateLimit()`, a route's `config.rateLimit`).
 */
export function checkMiddlewareOptions(
  options: object,
  adapterOptions: readonly string[] = [],
  where = 'rateLimit()',
): {
  /** The validated `headers` option. */
  headerFormats: readonly HeaderFormat[]
  /** The validated `ipv6Subnet` option, in bits. */
  ipv6Subnet: number
} {
  const o = requireObject(options, argumentOf(where))
  const known = [...LIMITER_OPTIONS, ...MIDDLEWARE_OPTIONS, ...adapterOptions]
  if (isRequest(o, known) && where.endsWith('()')) mountedUncalled(o, where)
  rejectUnknownOptions(o, known, where, MIDDLEWARE_PEER_HINTS)
  for (const name of ['key', 'tier', 'cost', 'skip', 'onLimited']) {
    if (o[name] !== undefined && typeof o[name] !== 'function') invalidOption(name, o[name], 'a function')
  }
  const subnet = o.ipv6Subnet === undefined ? DEFAULT_IPV6_SUBNET : o.ipv6Subnet
  if (typeof subnet !== 'number' || !Number.isInteger(subnet) || subnet < 1 || subnet > 128) {
    invalidOption(
      'ipv6Subnet',
      subnet,
      'a whole number of bits from 1 to 128 (56 groups a typical home network)',
    )
  }
  const headerFormats = resolveHeaderFormats(o.headers)
  // A given limiter is checked even where no limiter is built yet: `global: false` defaults too.
  if (o.limiter !== undefined) checkGivenLimiter(o)
  return { headerFormats, ipv6Subnet: subnet }
}

/** The given limiter, or one built from the options (checked by `checkMiddlewareOptions`). */
function limiterOf(o: Record<string, unknown>, known: readonly string[]): RateLimiter {
  if (o.limiter === undefined) return createRateLimiterFromResolved(resolveLimiterOptions(o, known))
  return o.limiter as RateLimiter
}

function checkGivenLimiter(o: Record<string, unknown>): void {
  const limiter = o.limiter as RateLimiter
  // The middleware reads `config.shadow` and reports through `warnings`, so a wrapper of a limiter
  // must carry both (its `config` and `warnings`): checked here, not on the first request.
  if (
    limiter === null ||
    typeof limiter !== 'object' ||
    typeof limiter.limit !== 'function' ||
    limiter.config === null ||
    typeof limiter.config !== 'object' ||
    limiter.warnings === null ||
    typeof limiter.warnings !== 'object' ||
    typeof limiter.warnings.warn !== 'function'
  ) {
    invalidOption(
      'limiter',
      limiter,
      'a limiter made by createRateLimiter() or fromUpstash(), or an object with its limit(), config and warnings',
    )
  }
  const both = LIMITER_OPTIONS.find((name) => o[name] !== undefined)
  if (both !== undefined) {
    throw new FloodgateError(
      ERROR_CODES.INVALID_OPTION,
      `Invalid \`${both}\`: got ${describeValue(o[both])} together with \`limiter\`; a given limiter keeps its own configuration, so pass \`${both}\` where it was made (createRateLimiter(), fromUpstash()) instead.`,
      { option: both, value: o[both] },
    )
  }
}

/**
 * A request (Express `req`) or a Koa `ctx` where the options go: the factory itself was mounted,
 * `app.use(rateLimit)`, and the framework calls it with each request. Its first property would
 * otherwise be named as an unknown option (`"_events"`, `"request"`), which says nothing of the fix.
 * Options with no unknown name are options, whatever they inherit.
 */
function isRequest(o: Record<string, unknown>, known: readonly string[]): boolean {
  return (
    'socket' in o && 'headers' in o && 'method' in o && Object.keys(o).some((name) => !known.includes(name))
  )
}

function mountedUncalled(request: object, where: string): never {
  const name = where.slice(0, -2)
  throw new FloodgateError(
    ERROR_CODES.INVALID_OPTION,
    `Invalid \`${argumentOf(where)}\`: got a request, so \`${name}\` itself was mounted (\`app.use(${name})\`) and is being called with each request. Call it once, when the app is set up, and mount what it returns: \`app.use(${name}({ policies: slidingWindow({ limit: 100, window: '1 m' }) }))\`.`,
    { option: argumentOf(where), value: request },
  )
}

/** The options argument of `where`: `rateLimit(options)`; a route's `config.rateLimit` as it is. */
function argumentOf(where: string): string {
  return where.endsWith('()') ? `${where.slice(0, -1)}options)` : where
}
