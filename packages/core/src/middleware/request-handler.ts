import type { IncomingHttpHeaders } from 'node:http'
import type { Decision, PolicyDecision } from '../decision.js'
import { callbackFailure, describeValue, ERROR_CODES, FloodgateError } from '../errors.js'
import { type HeaderMap, unavailableProblem } from '../headers.js'
import { ClientKeys } from '../ip/client-keys.js'
import { DECIDE_NOW, type DecidingNow, decidingNow, type LimitOptions, type RateLimiter } from '../limiter.js'
import { isPolicyName } from '../policies/common.js'
import { registry } from '../process-registry.js'
import { WARNING_CODES } from '../warnings.js'
import { headerWriter, RATE_LIMIT_HEADER_NAMES } from './header-writer.js'
import {
  type MiddlewareOptions,
  type ResolvedMiddlewareOptions,
  resolveMiddlewareOptions,
} from './middleware-options.js'
import { ProblemBodies } from './problem-body.js'

/**
 * Trusted hops that count as every hop: more proxies than any real chain has, so a setting that
 * trusts this many (a hop count of 100, a trust function that accepts any address) lets a client
 * pick its own address by forging the left-most values.
 */
export const EVERY_HOP = 10

/**
 * {@link EVERY_HOP} made-up public addresses (TEST-NET-2), in forwarding order: what an adapter asks
 * its framework's trust setting about when the framework cannot say how many hops it trusts.
 */
export const EVERY_HOP_PROBE: readonly string[] = Object.freeze(
  Array.from({ length: EVERY_HOP }, (_, i) => `198.51.100.${i + 1}`),
)

/** How an adapter reads the few things core needs from its framework's request object. */
export interface RequestBinding<Req> {
  /** The client address as the framework resolves it under its own trust-proxy setting. */
  ip(req: Req): string | undefined
  /** The request headers, for the forwarded-header warning. */
  headers(req: Req): IncomingHttpHeaders
  /** Whether the framework derives `ip` from forwarding headers (trusts a proxy). */
  trustsProxy(req: Req): boolean
  /**
   * Whether the framework trusts every hop of X-Forwarded-For, so that the client itself picks
   * its address (Express `trust proxy: true`, Koa `proxy` without `maxIpsCount`), or at least
   * {@link EVERY_HOP} of them (a function that accepts any address, a hop count of 100). Optional:
   * a framework that cannot tell leaves it out.
   */
  trustsEveryHop?(req: Req): boolean
  /**
   * Whether the framework took this request's address from its forwarding header, which it does
   * only when it trusts the peer that sent it (Express `trust proxy` by address, Fastify
   * `trustProxy`: a proxy not on the list, or a recent Fastify 5 given a hop count, is not trusted). Asked of
   * a request carrying that header while `trustsProxy` holds. Optional: a framework that then trusts
   * every peer (Koa's `app.proxy`) leaves it out.
   */
  usedForwarded?(req: Req): boolean
  /**
   * The header, in lower case, the framework reads the client address from when it trusts proxies.
   * Optional: `x-forwarded-for` by default (Koa's `app.proxyIpHeader` can name another).
   */
  forwardedHeader?(req: Req): string
  /**
   * The per-request object on which a limiter records that it has counted the request (one symbol
   * property per limiter). Optional: the request itself by default. The object must live exactly
   * as long as the request and be the same for every middleware that sees it.
   */
  marks?(req: Req): object
  /**
   * Matches a stack trace taken inside the framework's handling of a request (Express's
   * `Layer.handle`, Koa's `koa-compose`): a middleware created there is made anew for each request,
   * with counters of its own, and limits nothing (`WARN_FLOODGATE_CREATED_IN_REQUEST`). Optional.
   */
  requestFrames?: RegExp
}

/** The media type of every Floodgate error body (RFC 9457). */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

/**
 * The `Cache-Control` of Floodgate's own 429 and 503 answers, over whatever an earlier middleware
 * set: a shared cache must not store one client's refusal and replay it to others (RFC 6585 §4).
 */
export const PROBLEM_CACHE_CONTROL = 'no-store'

/**
 * The headers every Floodgate 429 and 503 answer carries besides the outcome's `headers`: its
 * media type and {@link PROBLEM_CACHE_CONTROL}. An adapter writes them over whatever was set before.
 */
export const PROBLEM_HEADERS: Readonly<HeaderMap> = Object.freeze({
  'content-type': PROBLEM_CONTENT_TYPE,
  'cache-control': PROBLEM_CACHE_CONTROL,
})

/** The identifier of requests whose client address is missing or malformed (one shared bucket). */
export const UNKNOWN_CLIENT_KEY = 'unknown-client'

/** Warning codes the middleware may log, each once per limiter. */
export const MIDDLEWARE_WARNINGS = {
  /** A request had no usable client address; it was counted under `unknown-client`. */
  UNKNOWN_CLIENT_IP: WARNING_CODES.UNKNOWN_CLIENT_IP,
  /** A forwarding header arrived but the framework does not trust proxies. */
  FORWARDED_HEADER_IGNORED: WARNING_CODES.FORWARDED_HEADER_IGNORED,
  /** The framework trusts every forwarding hop, so a client can forge its address freely. */
  PERMISSIVE_TRUST_PROXY: WARNING_CODES.PERMISSIVE_TRUST_PROXY,
  /** `skip` returned something other than a boolean (a string `'false'`, say): the request counted. */
  SKIP_NOT_BOOLEAN: WARNING_CODES.SKIP_NOT_BOOLEAN,
  /** The middleware was created while the framework handled a request: one per request limits nothing. */
  CREATED_IN_REQUEST: WARNING_CODES.CREATED_IN_REQUEST,
} as const

/**
 * What the adapter should do with a request:
 * - `skip`: continue, set nothing (skipped, or already counted by another mount of this limiter);
 * - `pass`: set `headers` (none after a store failure under 'allow') and continue;
 * - `limited`: answer `status` 429 with `headers` and `body` (problem+json), or call `onLimited`;
 * - `unavailable`: the store failed under 'deny': answer 503 with `body`, no rate-limit headers.
 */
export type RateLimitOutcome = SkipOutcome | DecidedOutcome

/** Continue without setting anything. */
export interface SkipOutcome {
  /** Continue without setting anything. */
  readonly action: 'skip'
}

/**
 * Continue, leaving the request as it is: another limiter's decision on it binds first (it has
 * fewer requests left), so its headers and exposed decision stay.
 */
export interface KeepOutcome {
  /** Continue, leaving the request as it is. */
  readonly action: 'keep'
}

/** Set `headers` and continue. */
export interface PassOutcome {
  /** Set `headers` and continue. */
  readonly action: 'pass'
  /** The limiter's decision, exposed on the request. */
  readonly decision: Decision
  /** Rate-limit headers to set (none after a store failure). */
  readonly headers: HeaderMap
  /** Header names to remove first: another limiter's, which these replace whole (often none). */
  readonly clears: readonly string[]
  /**
   * Set `headers` only where the response has no rate-limit field yet ({@link leavesHeaders}):
   * true for a shadow-mode limiter with no earlier decision on the request, whose counts must never
   * show over those of another library's limiter that enforces (express-rate-limit,
   * @fastify/rate-limit or koa-ratelimit before it, in a migration).
   */
  readonly ifAbsent: boolean
}

/** Answer now: 429 for `limited`, 503 for `unavailable`. */
export interface AnswerOutcome {
  /** Answer now: 429 for `limited`, 503 for `unavailable`. */
  readonly action: 'limited' | 'unavailable'
  /** The limiter's decision, exposed on the request. */
  readonly decision: Decision
  /** Rate-limit headers and `Retry-After` to set (none when unavailable). */
  readonly headers: HeaderMap
  /** Header names to remove first: another limiter's, which these replace whole (often none). */
  readonly clears: readonly string[]
  /** The status code to answer with. */
  readonly status: 429 | 503
  /** The `application/problem+json` body, serialised. */
  readonly body: string
}

/** An outcome other than `skip`: what {@link RateLimitHandler.outcome} answers for a decision. */
export type DecidedOutcome = KeepOutcome | PassOutcome | AnswerOutcome

/** The framework-neutral part of a middleware, made by {@link createRateLimitHandler}. */
export interface RateLimitHandler<Req, OnLimited> {
  /** The limiter deciding every request (given or built from the options). */
  readonly limiter: RateLimiter
  /** The adapter's custom answer to a limited request, if configured. */
  readonly onLimited: OnLimited | undefined
  /**
   * Decides on one request. Rejects with the error of a user callback (or a bad cost or key),
   * already made an Error a framework takes for one (a falsy or `'route'` rejection becomes
   * `ERR_FLOODGATE_CALLBACK_FAILED`): pass it to the framework's error path as it is.
   */
  handle(req: Req): Promise<RateLimitOutcome>
  /**
   * The two halves of {@link handle}, for adapters on the hot path: `decide` resolves with the
   * limiter's decision, or undefined when the request is skipped; `outcome` turns a decision into
   * what to answer. Saves the promise that joins them.
   */
  decide(req: Req): Promise<Decision | undefined>
  /**
   * {@link decide} without the promise when the answer is known at once (the memory store, and no
   * `key`, `tier`, `cost` or `skip` callbacks): the decision, or undefined when the request is
   * skipped. Otherwise a native Promise of the same, rejected with the error of a user callback (or
   * a bad cost or key); never throws.
   */
  decideNow(req: Req): Decision | undefined | Promise<Decision | undefined>
  /**
   * What to answer for a decision from {@link decide}, given `earlier`, the decision another
   * limiter already exposed on the request, if any: `keep` when that one binds first (see
   * {@link bindsBefore}), else this one's headers, replacing the other's whole.
   */
  outcome(decision: Decision, earlier?: Decision): DecidedOutcome
}

/**
 * Whether the adapter is to leave `outcome`'s headers out: a shadow-mode limiter's pass while the
 * response already carries a rate-limit field of another limiter (see {@link PassOutcome.ifAbsent}).
 */
export function leavesHeaders(
  outcome: DecidedOutcome,
  response: { hasHeader(name: string): boolean },
): boolean {
  return (
    outcome.action === 'pass' &&
    outcome.ifAbsent &&
    RATE_LIMIT_HEADER_NAMES.some((n) => response.hasHeader(n))
  )
}

/**
 * For a denial (429, 503, or `onLimited`): whether an earlier handler has already begun `response`
 * (its head written), so that no answer can be sent and the adapter answers nothing more. One begun
 * and not ended is cut off (`destroy()`), as Express's final handler does with an error it cannot
 * answer, rather than left open with nothing to end it; one already ended is left as it is.
 */
export function cutOffIfBegun(response: {
  readonly headersSent: boolean
  readonly writableEnded: boolean
  destroy(): unknown
}): boolean {
  if (!response.headersSent) return false
  if (!response.writableEnded) response.destroy()
  return true
}

const SKIP: RateLimitOutcome = Object.freeze({ action: 'skip' })
const KEEP: KeepOutcome = Object.freeze({ action: 'keep' })
const CLEAR_NOTHING: readonly string[] = Object.freeze([])
const UNAVAILABLE_BODY = JSON.stringify(unavailableProblem())
const NO_HEADERS: HeaderMap = Object.freeze({}) as HeaderMap

/**
 * Requests checked for a forwarding header before the check stops when none has carried one: an app
 * behind a proxy sees the header on its first request, one that no proxy fronts never does.
 */
export const FORWARDED_CHECKS = 10_000

/**
 * The property marking a request as counted, one per limiter: a request passing two mounts of
 * one limiter is counted once for each identifier, tier and cost. Its value is what was counted (or
 * an array of them when mounts with different `key`s, tiers or costs counted several), so a second
 * middleware sharing the limiter with a key, tier or cost of its own still counts the request on
 * those terms. A symbol property, as a WeakSet entry costs ~1 µs of GC per request. Kept
 * process-wide: a limiter mounted through the ESM and the CommonJS build of an adapter still counts
 * a request once.
 */
const { markOfLimiter } = registry

/**
 * Validates `options` and `binding` now and returns the framework-neutral per-request logic of a
 * middleware (docs/adapters.md). `adapterOptions` names the options of the adapter's own that
 * the options may hold besides Floodgate's (any other name is `ERR_FLOODGATE_UNKNOWN_OPTION`);
 * `where` names the call in error messages (default `rateLimit()`). The handler logs the
 * {@link MIDDLEWARE_WARNINGS} itself, through the limiter's logger.
 */
export function createRateLimitHandler<Req extends object, OnLimited>(
  options: MiddlewareOptions<Req, OnLimited>,
  binding: RequestBinding<Req>,
  adapterOptions: readonly string[] = [],
  where = 'rateLimit()',
): RateLimitHandler<Req, OnLimited> {
  // The binding first: resolving the options creates (and registers) the limiter.
  checkBinding(binding)
  const handler = new Handler(resolveMiddlewareOptions(options, adapterOptions, where), binding)
  // A middleware around a limiter of the app's own is only a wrapper, whenever it is made.
  if (binding.requestFrames !== undefined && options.limiter === undefined) {
    warnIfCreatedInRequest(handler.limiter, binding.requestFrames, where, options.store !== undefined)
  }
  return handler
}

let warnedCreatedInRequest = false

/**
 * Warns, once in the process (each such middleware is a new one, with warnings of its own), when
 * the stack shows the framework handling a request: `app.use((req, res, next) => rateLimit(…)(req,
 * res, next))`. express-rate-limit checks the same (ERR_ERL_CREATED_IN_REQUEST_HANDLER).
 */
function warnIfCreatedInRequest(
  limiter: RateLimiter,
  frames: RegExp,
  where: string,
  sharedStore: boolean,
): void {
  if (warnedCreatedInRequest) return
  let stack: string | undefined
  try {
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 50 // throws where Error is frozen (--frozen-intrinsics): no check then
    try {
      stack = new Error('where the middleware was created').stack
    } finally {
      Error.stackTraceLimit = limit
    }
  } catch {
    return // a stack formatter of the app's that throws: no check either
  }
  if (stack === undefined || !frames.test(stack)) return
  const cost = sharedStore
    ? 'a limiter of its own, made and registered for each request (it still counts in the store it was given)'
    : 'a limiter and counters of its own, so it limits nothing'
  // Once written: a middleware that silences the code (made lazily on purpose) leaves the check on.
  warnedCreatedInRequest = limiter.warnings.warn(
    WARNING_CODES.CREATED_IN_REQUEST,
    `${where} was called while a request was being handled. A middleware made for each request has ${cost}: create it once, when the app is set up, and mount that. If it is made once on purpose (lazily, at the first request), silence this code for that middleware.`,
  )
}

/** A binding missing a method fails at its first request otherwise, with a bare TypeError. */
function checkBinding(binding: unknown): void {
  const given = binding as Record<string, unknown> | null
  for (const name of ['ip', 'headers', 'trustsProxy'] as const) {
    if (typeof given?.[name] !== 'function') {
      throw new FloodgateError(
        ERROR_CODES.INVALID_OPTION,
        `Invalid request binding given to createRateLimitHandler(): its \`${name}\` is ${describeValue(given?.[name])}; expected a function of the request (the binding needs \`ip\`, \`headers\` and \`trustsProxy\`).`,
        { option: `binding.${name}`, value: given?.[name] },
      )
    }
  }
  if (given?.requestFrames !== undefined && !(given.requestFrames instanceof RegExp)) {
    throw new FloodgateError(
      ERROR_CODES.INVALID_OPTION,
      `Invalid request binding given to createRateLimitHandler(): its \`requestFrames\` is ${describeValue(given.requestFrames)}; expected a RegExp, or nothing.`,
      { option: 'binding.requestFrames', value: given.requestFrames },
    )
  }
  for (const name of ['trustsEveryHop', 'usedForwarded', 'forwardedHeader', 'marks'] as const) {
    if (given?.[name] !== undefined && typeof given[name] !== 'function') {
      throw new FloodgateError(
        ERROR_CODES.INVALID_OPTION,
        `Invalid request binding given to createRateLimitHandler(): its \`${name}\` is ${describeValue(given[name])}; expected a function of the request, or nothing.`,
        { option: `binding.${name}`, value: given[name] },
      )
    }
  }
}

class Handler<Req extends object, OnLimited> implements RateLimitHandler<Req, OnLimited> {
  readonly limiter: RateLimiter
  readonly onLimited: OnLimited | undefined
  private readonly counted: symbol
  private readonly hasCallbacks: boolean
  /** Whether the limiter runs in mode 'shadow': its decisions never take the headers over. */
  private readonly shadow: boolean
  private readonly bodies = new ProblemBodies()
  private readonly headers: (decision: Decision) => HeaderMap
  /** Requests still to be checked for forwarding headers (see `checkForwarded`). */
  private forwardedChecksLeft = FORWARDED_CHECKS
  private readonly clientKeys: ClientKeys
  /** The limiter's synchronous path, when it has one (any limiter made by createRateLimiter). */
  private readonly now: DecidingNow | undefined

  constructor(
    private readonly o: ResolvedMiddlewareOptions<Req, OnLimited>,
    private readonly binding: RequestBinding<Req>,
  ) {
    this.limiter = o.limiter
    this.clientKeys = new ClientKeys(o.ipv6Subnet)
    this.now = decidingNow(o.limiter)
    this.onLimited = o.onLimited
    this.shadow = o.limiter.config.shadow === true
    this.headers = headerWriter(o.headerFormats)
    this.hasCallbacks =
      o.skip !== undefined || o.key !== undefined || o.tier !== undefined || o.cost !== undefined
    let mark = markOfLimiter.get(o.limiter)
    if (mark === undefined) {
      mark = Symbol('floodgate.counted')
      markOfLimiter.set(o.limiter, mark)
    }
    this.counted = mark
  }

  handle(req: Req): Promise<RateLimitOutcome> {
    return this.decide(req).then((decision) => (decision === undefined ? SKIP : this.outcome(decision)))
  }

  decide(req: Req): Promise<Decision | undefined> {
    const decided = this.decideNow(req)
    return decided instanceof Promise ? decided : Promise.resolve(decided)
  }

  // Without callbacks nothing but the limiter is asynchronous, and on the memory store not even
  // that: the adapter answers or continues in the same call, with no promise and no await of its
  // own (an async frame here cost about 1 µs per request).
  decideNow(req: Req): Decision | undefined | Promise<Decision | undefined> {
    const holder = this.binding.marks === undefined ? req : this.binding.marks(req)
    const marks = holder as Record<symbol, unknown>
    if (this.hasCallbacks) return this.decideWithCallbacks(req, marks)
    try {
      const key = this.clientKey(req)
      const counted = marks[this.counted]
      if (counted !== undefined) {
        if (countedFor(counted, key)) return undefined
        marks[this.counted] = alsoCounted(counted, key)
      } else {
        marks[this.counted] = key
      }
      if (this.now !== undefined) return this.now[DECIDE_NOW](key)
      // A limiter of another make may answer with a thenable of its own, and the adapters tell a
      // pending answer from a decision with `instanceof Promise`.
      return Promise.resolve(this.limiter.limit(key)).then(checkedDecision, rejectedWith)
    } catch (error) {
      return Promise.reject(callbackFailure(error))
    }
  }

  // Every rejection an adapter sees is one its framework takes for an error (see callbackFailure).
  private async decideWithCallbacks(req: Req, marks: Record<symbol, unknown>): Promise<Decision | undefined> {
    try {
      const o = this.o
      if (o.skip !== undefined) {
        // Only `true` lets a request through uncounted: a truthy `'false'` (an environment
        // variable) or `1` must not lift the limit, in the one direction that does harm.
        const skip: unknown = await o.skip(req)
        if (skip === true) return undefined
        if (skip !== false && skip !== undefined && skip !== null) {
          this.limiter.warnings.warn(
            MIDDLEWARE_WARNINGS.SKIP_NOT_BOOLEAN,
            `\`skip\` returned ${describeValue(skip)}; only \`true\` skips a request, so this one is counted. Return a boolean (\`skip: (req) => process.env.SKIP_LIMITS === 'true'\`).`,
          )
        }
      }
      const key = o.key === undefined ? this.clientKey(req) : await o.key(req)
      let options: LimitOptions | undefined
      if (o.tier !== undefined || o.cost !== undefined) {
        options = {
          tier: o.tier === undefined ? undefined : await o.tier(req),
          cost: o.cost === undefined ? undefined : await o.cost(req),
        }
      }
      // Marked only once it is certain to be counted: a mount that skips the request leaves it to
      // the next mount of the same limiter, which must not take it as counted.
      const countedAs = this.countedAs(key, options)
      const counted = marks[this.counted]
      if (counted !== undefined && countedFor(counted, countedAs)) return undefined
      marks[this.counted] = counted === undefined ? countedAs : alsoCounted(counted, countedAs)
      const decision = await this.limiter.limit(key, options)
      // A limiter of Floodgate's own (`decidingNow`) answers Decisions; only another make is checked.
      return this.now !== undefined ? decision : checkedDecision(decision)
    } catch (error) {
      throw callbackFailure(error)
    }
  }

  /**
   * What a request's mark records of a count: the identifier alone at the limiter's default tier
   * and a cost of 1, as the mounts without callbacks count; else the identifier with the tier and
   * cost asked for, so that a mount asking for another (an upload's cost of 5, a login route's
   * strict tier) counts the request again, on its own terms, rather than passing it as counted.
   */
  private countedAs(key: unknown, options: LimitOptions | undefined): unknown {
    if (options === undefined) return key
    const tier = options.tier ?? this.limiter.config.defaultTier
    const cost = options.cost ?? 1
    if (tier === this.limiter.config.defaultTier && cost === 1) return key
    return { id: key, tier, cost } satisfies CountedOnTerms
  }

  outcome(decision: Decision, earlier?: Decision): DecidedOutcome {
    const clears = earlier === undefined ? CLEAR_NOTHING : RATE_LIMIT_HEADER_NAMES
    if (decision.allowed) {
      if (this.shadow) shadowDecisions.add(decision)
      if (bindsBefore(earlier, decision)) return KEEP
      // Beside another Floodgate limiter's decision, `bindsBefore` has chosen: the fields present are its.
      return {
        action: 'pass',
        decision,
        headers: this.headers(decision),
        clears,
        ifAbsent: this.shadow && earlier === undefined,
      }
    }
    if (decision.reason === 'store-error') {
      return {
        action: 'unavailable',
        decision,
        headers: NO_HEADERS,
        clears,
        status: 503,
        body: UNAVAILABLE_BODY,
      }
    }
    return {
      action: 'limited',
      decision,
      headers: this.headers(decision),
      clears,
      status: 429,
      body: this.bodies.of(decision),
    }
  }

  private clientKey(req: Req): string {
    const address = this.binding.ip(req)
    if (this.forwardedChecksLeft > 0) this.checkForwarded(req)
    const key = this.clientKeys.of(address)
    if (key !== undefined) return key
    this.limiter.warnings.warn(
      MIDDLEWARE_WARNINGS.UNKNOWN_CLIENT_IP,
      `A request arrived without a usable client address (got ${describeValue(address)}); it is counted under the shared "${UNKNOWN_CLIENT_KEY}" identifier. Check the framework's trust-proxy setting, or give a \`key\` option.`,
    )
    return UNKNOWN_CLIENT_KEY
  }

  // express-rate-limit's ERR_ERL_UNEXPECTED_X_FORWARDED_FOR: behind an untrusted proxy every
  // client shares the proxy's address, so one client can exhaust everyone's quota. The first request
  // carrying a forwarding header settles it (a warning, or a trust setting that is fine), and the
  // check stops; so does it after FORWARDED_CHECKS requests without one (an app that no proxy
  // fronts). Each check reads the request's headers: on Express about 0.5 µs a request.
  private checkForwarded(req: Req): void {
    this.forwardedChecksLeft--
    const headers = this.binding.headers(req)
    const read = this.binding.forwardedHeader?.(req) ?? 'x-forwarded-for'
    const carried = headers[read] !== undefined
    if (!carried && headers['x-forwarded-for'] === undefined && headers.forwarded === undefined) return
    this.forwardedChecksLeft = 0
    if (this.binding.trustsProxy(req)) {
      // express-rate-limit's ERR_ERL_PERMISSIVE_TRUST_PROXY: trusting every hop lets each forged
      // left-most value of the header the framework reads open a fresh bucket.
      if (carried && this.binding.trustsEveryHop?.(req) === true) {
        this.limiter.warnings.warn(
          MIDDLEWARE_WARNINGS.PERMISSIVE_TRUST_PROXY,
          'The framework trusts every X-Forwarded-For hop (or ten or more, more than any real chain), so a client can send any address it likes and get a fresh rate limit each time. Trust only your proxies (Express: app.set("trust proxy", 1) or their addresses; Koa: app.maxIpsCount = 1; Fastify: trustProxy: "<the proxy\'s address>").',
        )
      } else if (carried && this.binding.usedForwarded?.(req) === false) {
        // Trusting proxies, but not this one: a proxy missing from the list, or Fastify 5 given
        // `trustProxy: 1`, which trusts nothing. Or a client that sent the header itself.
        const peer = this.binding.ip(req)
        // No address at all (a unix socket): UNKNOWN_CLIENT_IP says what to do instead.
        if (peer === undefined || peer === '') return
        this.limiter.warnings.warn(
          MIDDLEWARE_WARNINGS.FORWARDED_HEADER_IGNORED,
          `A request from ${peer} carries an X-Forwarded-For header, but the framework's trust-proxy setting does not trust ${peer}, so the request is counted by that address. If it is your proxy, every client behind it shares one rate limit: trust it (Express: app.set("trust proxy", "${peer}"); Fastify: trustProxy: "${peer}"; recent Fastify 5 releases ignore a hop count such as trustProxy: 1). If it is not, the client sent the header itself, and ignoring it is right.`,
        )
      } else if (!carried) {
        // The proxy sends another header than the framework reads: the standard `Forwarded`,
        // which none of them reads, or X-Forwarded-For where Koa's `app.proxyIpHeader` names another.
        // Or Koa's app.proxyIpHeader set to '' after construction: Koa then reads no header at all.
        const sent = headers['x-forwarded-for'] !== undefined ? 'X-Forwarded-For' : 'Forwarded'
        const problem =
          read === ''
            ? `${sent}, but the framework reads the client address from no header (Koa's app.proxyIpHeader is empty)`
            : `${sent} but no ${read}, the header the framework reads the client address from`
        const fix =
          read === ''
            ? "Set Koa's app.proxyIpHeader to the header the proxy sends"
            : `Have the proxy send ${read}${read === 'x-forwarded-for' || sent === 'Forwarded' ? '' : ", or set Koa's app.proxyIpHeader to the header it sends"}`
        this.limiter.warnings.warn(
          MIDDLEWARE_WARNINGS.FORWARDED_HEADER_IGNORED,
          `A request carries ${problem}, so every client behind that proxy shares one rate limit. ${fix}.`,
        )
      }
      return
    }
    this.limiter.warnings.warn(
      MIDDLEWARE_WARNINGS.FORWARDED_HEADER_IGNORED,
      'A request carries an X-Forwarded-For or Forwarded header, but the framework does not trust proxies, so every client behind that proxy shares one rate limit. If the app runs behind a proxy, trust that proxy and no more (Express: app.set("trust proxy", 1); Koa: app.proxy = true with app.maxIpsCount = 1; Fastify: trustProxy: "<the proxy\'s address>"). Never trust every hop: a client could then choose its own address.',
    )
  }
}

/**
 * Whether `earlier`, the decision another limiter already made on this request (an app-wide limit
 * before a route's own, say, or another library's), binds before `decision`, which admits it: it
 * has fewer requests left.
 * The adapters then leave its headers and its exposed decision as they are, so a client sees the
 * limit it will meet first, whichever order the middlewares run in. A store failure's decision
 * (no headers) never binds.
 */
export function bindsBefore(earlier: Decision | undefined, decision: Decision): boolean {
  if (earlier === undefined || earlier === null || earlier === decision) return false
  // Another library's object in the same place (express-rate-limit's `req.rateLimit`: `limit`,
  // `used`, `remaining`, no `allowed`). It admitted the request, since it answers its own denials;
  // its `remaining`, if it has one, is compared as a decision's is.
  const foreign = typeof earlier.allowed !== 'boolean'
  if (!foreign && (!earlier.allowed || earlier.reason === 'store-error')) return false
  // A store failure's decision (no headers, `remaining` 0) never replaces one that describes a quota.
  if (decision.reason === 'store-error') return true
  // A shadow-mode limiter enforces nothing: its decision never hides an enforcing one's, and an
  // enforcing one's is never replaced by it.
  if (shadowDecisions.has(earlier)) return false
  if (shadowDecisions.has(decision)) return true
  return typeof earlier.remaining === 'number' && earlier.remaining < decision.remaining
}

/** Decisions of shadow-mode limiters that a middleware passed on, for {@link bindsBefore}. */
const { shadowDecisions } = registry

// A request's mark is what it was counted as (an identifier, or a CountedOnTerms), or an array of
// them when there are several (identifiers are strings: an array is never one, and every copy of
// Floodgate reads it).

/** A count at a tier or cost of a mount's own (see `Handler.countedAs`). */
interface CountedOnTerms {
  readonly id: unknown
  readonly tier: string | undefined
  readonly cost: unknown
}

function countedFor(mark: unknown, countedAs: unknown): boolean {
  return Array.isArray(mark) ? mark.some((m) => sameCount(m, countedAs)) : sameCount(mark, countedAs)
}

function sameCount(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return false
  const x = a as CountedOnTerms
  const y = b as CountedOnTerms
  return x.id === y.id && x.tier === y.tier && x.cost === y.cost
}

function alsoCounted(mark: unknown, countedAs: unknown): unknown[] {
  return Array.isArray(mark) ? [...mark, countedAs] : [mark, countedAs]
}

function rejectedWith(reason: unknown): never {
  throw callbackFailure(reason)
}

/**
 * A custom `limiter`'s answer, checked: anything but a decision is an error on the framework's error
 * path, never a skip (undefined means "skipped" to the adapters) and never a pass without a limit.
 */
function checkedDecision(answer: unknown): Decision {
  const d = answer as Partial<Decision> | null | undefined
  if (typeof d === 'object' && d !== null && typeof d.allowed === 'boolean' && Array.isArray(d.policies)) {
    // Each name goes into the header fields as it is, between quotes (a quote in it broke them).
    const bad = d.policies.find((p) => !isPolicyName((p as Partial<PolicyDecision> | null)?.name))
    if (bad === undefined) return d as Decision
    throw new FloodgateError(
      ERROR_CODES.INVALID_DECISION,
      `The limiter's limit() answered a decision naming a policy ${describeValue((bad as Partial<PolicyDecision> | null)?.name)}, which no rate-limit header field can carry; the request is not let through unlimited. Policy names are 1 to 64 characters from A-Z a-z 0-9 _ . -, as the policy factories check.`,
      { option: 'limiter', value: answer },
    )
  }
  throw new FloodgateError(
    ERROR_CODES.INVALID_DECISION,
    `The limiter's limit() answered ${describeValue(answer)}, not a Decision; the request is not let through unlimited. A custom \`limiter\` must resolve with the Decision of createRateLimiter's limit() (allowed, limit, remaining, resetAtMs, retryAfterMs, policy, tier, reason, policies).`,
    { option: 'limiter', value: answer },
  )
}
