import { createHash } from 'node:crypto'
import {
  callbackFailure,
  checkMiddlewareOptions,
  createRateLimitHandler,
  cutOffIfBegun,
  DEFAULT_PREFIX,
  type DecidedOutcome,
  type Decision,
  ERROR_CODES,
  EVERY_HOP,
  EVERY_HOP_PROBE,
  FloodgateError,
  isValidPrefix,
  LIMITER_OPTIONS,
  leavesHeaders,
  limiterSettingsOf,
  MAX_PREFIX_LENGTH,
  type MiddlewareOptions,
  PROBLEM_HEADERS,
  type RateLimiter,
  type RateLimitHandler,
  type RequestBinding,
  type ResolvedLimiterOptions,
} from '@floodgate/core'
import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  onRequestHookHandler,
} from 'fastify'
import fp from 'fastify-plugin'

/**
 * Answers a limited request instead of the default 429 problem+json (headers are already set):
 * send a reply, or throw an error carrying `statusCode: 429` to reach the app's error handler.
 */
export type OnLimited = (request: FastifyRequest, reply: FastifyReply, decision: Decision) => unknown

/** Options of one route's own limiter (`config: { rateLimit: {...} }`); unset ones come from the plugin's. */
export interface RateLimitRouteOptions extends MiddlewareOptions<FastifyRequest, OnLimited> {}

/** The plugin's options: a route's options, as defaults for every route, plus `global`. */
export interface FastifyRateLimitOptions extends Omit<RateLimitRouteOptions, 'prefix'> {
  /**
   * The counters' prefix (default `'floodgate'`). Declared as Fastify's `register()` declares its
   * own option of that name, which it is passed through: under `exactOptionalPropertyTypes` an
   * explicit `undefined` is refused (leave it out instead).
   */
  prefix?: string
  /** Limit every route (default), or only routes with `config.rateLimit` when false. */
  global?: boolean | undefined
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Floodgate's decision on this request (unset when skipped). */
    rateLimit?: Decision | undefined
  }
  interface FastifyContextConfig {
    /** This route's own limits, or false to leave it unlimited. */
    rateLimit?: (RateLimitRouteOptions & object) | false | undefined
  }
}

const binding: RequestBinding<FastifyRequest> = {
  ip: (request) => request.ip,
  headers: (request) => request.headers,
  // Fastify defines `ips` only on the request class it builds when `trustProxy` is set.
  trustsProxy: (request) => 'ips' in request,
  trustsEveryHop,
  // Fastify lists the peer first, then each forwarded address it trusted the one before to give.
  // Not a list: the app's own `ips` decoration, without trustProxy.
  usedForwarded: (request) => Array.isArray(request.ips) && request.ips.length > 1,
}

/**
 * Whether `trustProxy` trusts every hop (`true`, or a function or hop count as permissive), so that
 * a client picks its own address. Fastify keeps its trust function to itself, so this asks the
 * request class's `ips` getter about a made-up request from a public address forwarding EVERY_HOP
 * public addresses: only a setting that trusts them all lists every one. Runs once, on the first
 * request carrying a forwarding header.
 */
function trustsEveryHop(request: FastifyRequest): boolean {
  try {
    let proto: object | null = Object.getPrototypeOf(request)
    let getter: (() => unknown) | undefined
    while (proto !== null && getter === undefined) {
      getter = Object.getOwnPropertyDescriptor(proto, 'ips')?.get
      proto = Object.getPrototypeOf(proto)
    }
    if (getter === undefined) return false
    const hops = EVERY_HOP_PROBE.join(', ')
    const socket = { remoteAddress: '203.0.113.1' }
    const raw = { headers: { 'x-forwarded-for': hops }, socket, connection: socket }
    const ips = getter.call({ raw, headers: raw.headers, socket })
    return Array.isArray(ips) && ips.length > EVERY_HOP
  } catch {
    return false
  }
}

/**
 * The URL a route was declared under. A prefixed plugin's `/` route is served at the prefix and,
 * with `prefixTrailingSlash: 'both'` (the default), at the prefix with a trailing slash, from one
 * declaration: Fastify 5 gives both the prefix as their `url`, Fastify 4 the second its own, which
 * would count it apart. (A `/` route under `'slash'` is a route of its own beside one at `''`.)
 */
function declaredUrl(request: FastifyRequest, url: unknown): unknown {
  const { prefix } = request.server
  if (prefix === '' || url !== `${prefix}/`) return url
  const trailing = (request as { routeOptions?: { prefixTrailingSlash?: unknown } }).routeOptions
    ?.prefixTrailingSlash
  return trailing === 'both' ? prefix : url
}

/** Per app (its server, shared by every context), how many times the plugin was registered. */
const registrations = new WeakMap<object, number>()

/** Options that choose a limiter: a route giving any of them does not inherit the plugin's. */
const LIMIT_CHOICE = ['limiter', 'policies', 'tiers', 'defaultTier'] as const

/**
 * A request decoration: the mark of the plugin instance whose route-level hook let the request
 * through, so that instance's app-level hook knows the route at once, without building
 * `request.routeOptions` (a fresh object on every read).
 */
const PASSED = Symbol('floodgate passed')
type Marked = FastifyRequest & { [PASSED]?: symbol }

const plugin: FastifyPluginAsync<FastifyRateLimitOptions> = async (fastify, options) => {
  // Fastify's own register options (`FastifyRegisterOptions`) reach the plugin too: not Floodgate's.
  const {
    global = true,
    logLevel: _logLevel,
    logSerializers: _logSerializers,
    ...defaults
  } = options as FastifyRateLimitOptions & { logLevel?: unknown; logSerializers?: unknown }
  if (typeof global !== 'boolean') {
    throw new FloodgateError(
      ERROR_CODES.INVALID_OPTION,
      `Invalid \`global\`: got ${JSON.stringify(global) ?? typeof global}; expected true (limit every route) or false (only routes with config.rateLimit).`,
      { option: 'global', value: global },
    )
  }
  // This registration's place among the app's: 0 for the first (the root's, usually). Plugins load
  // in the order they are registered, so each process gives a registration the same number.
  const registration = registrations.get(fastify.server) ?? 0
  registrations.set(fastify.server, registration + 1)
  const created: RateLimitHandler<FastifyRequest, OnLimited>[] = []
  // Messages name the call: the plugin's options, or a route's `config.rateLimit`.
  const build = (o: RateLimitRouteOptions, route?: string) => {
    const handler =
      route === undefined
        ? createRateLimitHandler(o, binding, ['global'], 'fastifyRateLimit()')
        : createRateLimitHandler(o, binding, [], `the config.rateLimit of route ${route}`)
    if (o.limiter === undefined) created.push(handler)
    return handler
  }
  // Without `global`, the plugin's options are defaults completed by each route's own.
  const globalHandler = global
    ? build(defaults)
    : void checkMiddlewareOptions(defaults, ['global'], 'fastifyRateLimit()')
  // A GET route and its automatic HEAD route share one config object, hence one limiter.
  const perRoute = new WeakMap<RateLimitRouteOptions, RateLimitHandler<FastifyRequest, OnLimited>>()

  if (!fastify.hasRequestDecorator('rateLimit')) fastify.decorateRequest('rateLimit', undefined)
  if (!fastify.hasRequestDecorator(PASSED)) fastify.decorateRequest(PASSED, undefined)

  // Routes declared before the plugin loaded get their limiter at their first request; keyed by
  // route rather than by config object, so that its prefix does not depend on which route sharing
  // one config object happens to be asked first (a different one in each process). Within a route
  // name, by options object: routes of one URL told apart by constraints (which such
  // routes are named without) each keep their own limits, on counters of that one name.
  const perUnseenRoute = new Map<string, WeakMap<object, RateLimitHandler<FastifyRequest, OnLimited>>>()
  /** This route's limiter: its own, the plugin's, or none (`false`, or `global: false` without one). */
  const handlerOf = (own: unknown, method: unknown, url: unknown, seen: boolean, constraints?: unknown) => {
    if (own === false) return undefined
    if (own === undefined) return globalHandler
    if (own === null || typeof own !== 'object' || Array.isArray(own)) {
      throw new FloodgateError(
        ERROR_CODES.INVALID_OPTION,
        `Invalid \`config.rateLimit\` of route ${String(method)} ${String(url)}: got ${shown(own)}; expected this route's options (an object) or false for no limit.`,
        { option: 'config.rateLimit', value: own },
      )
    }
    const options = own as RateLimitRouteOptions
    // Fastify's automatic HEAD route shares its GET route's config object, hence its limiter; a
    // route not seen being added is asked for by method, so HEAD is taken as GET there.
    const route = routeName(method, url, !seen, constraints)
    let unseen = seen ? undefined : perUnseenRoute.get(route)
    if (!seen && unseen === undefined) {
      unseen = new WeakMap()
      perUnseenRoute.set(route, unseen)
    }
    let handler = seen ? perRoute.get(options) : unseen!.get(options)
    if (handler === undefined) {
      handler = build(routeOptions(defaults, options, route, registration), route)
      if (seen) perRoute.set(options, handler)
      else unseen!.set(options, handler)
    }
    return handler
  }

  // Routes added from here on: their limiter runs as a route-level hook, after every app-level
  // onRequest hook (authentication, say), and its options are checked as the route is added.
  // Each such route is marked, so the app-level hook below leaves it alone.
  const seen = Symbol('floodgate route')
  fastify.addHook('onRoute', (route) => {
    const handler = handlerOf(route.config?.rateLimit, route.method, route.url, true, route.constraints)
    route.config = { ...route.config, [seen]: true } as typeof route.config
    if (handler === undefined) return
    const hook = onRequest(handler, seen)
    const existing = route.onRequest
    route.onRequest = existing === undefined ? [hook] : [...[existing].flat(), hook]
  })

  // Routes this plugin never saw: declared before it loaded, as after `app.register(plugin)` without
  // `await` (Fastify runs onRoute hooks as a route is declared, but a plugin loads later), and the
  // not-found handler. They are limited here rather than left unlimited, in an app-level preParsing
  // hook: after every onRequest hook, as on the routes above, and before the body is read.
  const unseenHooks = new Map<RateLimitHandler<FastifyRequest, OnLimited>, onRequestHookHandler>()
  fastify.addHook('preParsing', function floodgateUnseenRoutes(request, reply, payload, done) {
    if ((request as Marked)[PASSED] === seen) {
      done(null, payload)
      return
    }
    const config = routeConfig(request)
    if (config?.[seen] === true) {
      done(null, payload)
      return
    }
    let hook: onRequestHookHandler | undefined
    try {
      // A not-found handler's config has no `url` (Fastify gives it the handler's own config): it
      // is one route for every path and method it answers, never a limiter per URL asked for, and
      // is named by the prefix it was set under (one per prefix), whose instance `request.server` is.
      const notFound = config?.url === undefined
      const handler = handlerOf(
        config?.rateLimit,
        notFound ? '*' : (config.method ?? request.method),
        notFound ? `${request.server.prefix}/* (not found)` : declaredUrl(request, config.url),
        false,
      )
      if (handler !== undefined) {
        hook = unseenHooks.get(handler)
        if (hook === undefined) {
          hook = onRequest(handler)
          unseenHooks.set(handler, hook)
        }
      }
    } catch (error) {
      done(error as Error)
      return
    }
    if (hook === undefined) done(null, payload)
    else {
      const onward = ((error?: Error) =>
        error ? done(error) : done(null, payload)) as HookHandlerDoneFunction
      hook.call(this, request, reply, onward)
    }
  })
  fastify.addHook('onClose', async () => {
    // An app built again on the same server (a reload) numbers its registrations from 0 again.
    registrations.delete(fastify.server)
    await Promise.all(created.map((h) => h.limiter.close()))
  })
}

/**
 * The route's config (its `config` option plus `url` and `method`), or undefined if this Fastify
 * cannot say. `routeOptions` arrived in Fastify 4.10; before it, `routeConfig` said the same.
 */
function routeConfig(request: FastifyRequest): Record<string | symbol, unknown> | undefined {
  const options = (request as { routeOptions?: { config?: object } }).routeOptions
  if (options !== undefined) return options.config as Record<string | symbol, unknown> | undefined
  return (request as { routeConfig?: Record<string | symbol, unknown> }).routeConfig
}

function routeOptions(
  defaults: RateLimitRouteOptions,
  own: RateLimitRouteOptions,
  route: string,
  registration: number,
): RateLimitRouteOptions {
  const merged: Record<string, unknown> = { ...defaults }
  if (LIMIT_CHOICE.some((name) => (own as Record<string, unknown>)[name] !== undefined)) {
    for (const name of LIMIT_CHOICE) delete merged[name]
    // The plugin's `limiter` holds its store, prefix, mode and failure handling: a route with
    // limits of its own keeps them (on a shared store, in shadow mode), unless it sets its own.
    if (defaults.limiter !== undefined && own.limiter === undefined) {
      Object.assign(merged, settingsOf(defaults.limiter, own, route))
    }
    // Policies, or a limiter, without tiers: the plugin's `tier` callback would name tiers this
    // route has not.
    const tierless =
      own.policies !== undefined ||
      (own.limiter !== undefined &&
        (own.limiter as { config?: { defaultTier?: unknown } }).config?.defaultTier === undefined)
    if (tierless && own.tier === undefined) delete merged.tier
  }
  // Limiter options cannot accompany a given `limiter`.
  if (own.limiter !== undefined) for (const name of LIMITER_OPTIONS) delete merged[name]
  // A plugin's `limiter` kept (the route chose no limits of its own): the route counts in it.
  else if (own.prefix === undefined && merged.limiter === undefined) {
    merged.prefix = routePrefix(merged.prefix, route, registration)
  }
  // An option the route leaves `undefined` (`mode: process.env.RL_MODE`, unset) is unset: the
  // plugin's value stays, as for an option the route does not name.
  for (const [name, value] of Object.entries(own)) if (value !== undefined) merged[name] = value
  return merged
}

/** The options a limiter was created with, besides its limits, as a route's limiter takes them. */
function settingsOf(
  limiter: RateLimiter,
  own: RateLimitRouteOptions,
  route: string,
): Record<string, unknown> {
  const config = (limiter as { config?: Partial<ResolvedLimiterOptions> }).config
  if (config === undefined) return {}
  if (config.decider !== undefined && own.store === undefined) {
    // No store to share: the route would count in a memory store of each process's own.
    throw new FloodgateError(
      ERROR_CODES.INVALID_OPTION,
      `Invalid \`config.rateLimit\` of route ${route}: it gives limits of its own, but the plugin's \`limiter\` decides through ${config.decider} and has no store the route could count in (each process would count it apart). Give the route a \`store\` (\`upstashStore({ redis })\`) or a \`limiter\` of its own.`,
      { option: 'config.rateLimit', value: own },
    )
  }
  return limiterSettingsOf(config) as Record<string, unknown>
}

/**
 * A route as its prefix is derived from: its methods, sorted, its URL, and its constraints when it
 * has any (`version`, `host`: routes of one URL told apart by them, as NestJS's versioning makes,
 * count apart). Fastify gives a route's constraints to `onRoute` only, so routes declared before
 * the plugin loaded are named without them.
 */
function routeName(method: unknown, url: unknown, headIsGet: boolean, constraints?: unknown): string {
  const methods = (Array.isArray(method) ? [...method] : [method]).map((m) =>
    headIsGet && m === 'HEAD' ? 'GET' : String(m),
  )
  const name = `${[...new Set(methods)].sort().join(',')} ${String(url)}`
  if (constraints === null || typeof constraints !== 'object') return name
  const parts = Object.keys(constraints)
    .sort()
    .map((key) => {
      const value: unknown = (constraints as Record<string, unknown>)[key]
      return `${key}=${typeof value === 'string' ? value : value instanceof RegExp ? String(value) : JSON.stringify(value)}`
    })
  return parts.length === 0 ? name : `${name} (${parts.join(', ')})`
}

/**
 * The prefix of a route's own counters: the plugin's, plus a digest of the prefix and the route.
 * Counters belong to (prefix, policy name, identifier), so without it a route's limiter would count
 * into the plugin's counters (or another route's) whenever the plugin gives one `store` and the
 * policies have the same names, as they do by default; with the default store each limiter has a
 * store of its own anyway. The same routes give the same prefixes in every process. A prefix that
 * is not valid is left as it is, for the limiter to report.
 */
function routePrefix(base: unknown, route: string, registration: number): unknown {
  const prefix = base ?? DEFAULT_PREFIX
  if (!isValidPrefix(prefix)) return base
  // The registration too, after the app's first: a plugin registered at the root and again inside
  // a plugin of the app's each build a limiter for a route with options of its own, which would
  // otherwise count every request twice in one counter.
  const named = registration === 0 ? `${prefix}\0${route}` : `${prefix}\0${route}\0${registration}`
  const digest = createHash('sha256').update(named).digest('hex').slice(0, 12)
  return `${prefix.slice(0, MAX_PREFIX_LENGTH - digest.length - 7)}:route:${digest}`
}

// A callback hook, not an async one: on a remote store the limiter's promise is the only one a
// request waits on, and on the memory store the hook calls `done` before it returns.
function onRequest(
  handler: RateLimitHandler<FastifyRequest, OnLimited>,
  mark?: symbol,
): onRequestHookHandler {
  const { onLimited } = handler
  /** Lets the request go on, marked as passed by this registration's hook. */
  function pass(request: FastifyRequest, done: HookHandlerDoneFunction): void {
    ;(request as Marked)[PASSED] = mark
    done()
  }
  function proceed(
    request: FastifyRequest,
    reply: FastifyReply,
    done: HookHandlerDoneFunction,
    decision: Decision | undefined,
  ): void {
    if (decision === undefined) {
      pass(request, done)
      return
    }
    let outcome: DecidedOutcome
    try {
      // Another limiter's decision that binds first keeps its headers and `request.rateLimit`.
      outcome = handler.outcome(decision, request.rateLimit)
      if (outcome.action === 'keep') {
        pass(request, done)
        return
      }
      request.rateLimit = decision
      if (!leavesHeaders(outcome, reply)) {
        for (const name of outcome.clears) reply.removeHeader(name)
        reply.headers(outcome.headers)
      }
    } catch (error) {
      done(error as Error)
      return
    }
    if (outcome.action === 'pass') {
      pass(request, done)
      return
    }
    // Begun through reply.raw by an earlier hook: Fastify can send nothing more (Fastify 4 throws
    // ERR_HTTP_HEADERS_SENT out of the hook, past its error path), so it gets no answer (cut off if
    // not ended), as on Express.
    if (cutOffIfBegun(reply.raw)) return
    if (outcome.action === 'limited' && onLimited !== undefined) {
      answerBy(onLimited, request, reply, decision, outcome.body).then(undefined, (error: unknown) => {
        const failure = callbackFailure(error) as Error
        // Sent already: Fastify drops a hook's error then, so it is logged, as Fastify logs a
        // handler's promise that rejects after its reply was sent. Begun through reply.raw (its head
        // out): no error handler can answer it any more either, and nothing else would end it.
        if (reply.sent || reply.raw.headersSent) {
          request.log.error({ err: failure }, 'onLimited failed after its reply was sent')
          if (!reply.sent) reply.raw.destroy()
        } else done(failure)
      })
      return
    }
    try {
      sendProblem(reply, outcome.status, outcome.body)
    } catch (error) {
      done(error as Error)
    }
  }
  return function floodgateRateLimit(request, reply, done) {
    const decided = handler.decideNow(request)
    if (decided instanceof Promise) decided.then((decision) => proceed(request, reply, done, decision), done)
    else proceed(request, reply, done, decided)
  }
}

async function answerBy(
  onLimited: OnLimited,
  request: FastifyRequest,
  reply: FastifyReply,
  decision: Decision,
  body: string,
): Promise<void> {
  // Returning the reply (Fastify's "I will send it") waits until it is sent: the reply is a thenable.
  await onLimited(request, reply, decision)
  // An onLimited that neither answers nor throws must not let the request through.
  if (!reply.sent) sendProblem(reply, 429, body)
}

// A string body, sent as it is: Node writes the head and a string body as one chunk, and a Buffer as
// two, about 1.4 µs more per 429 (a loopback micro-run alternating the two on each request). The
// reply's own serializer keeps Fastify from appending "; charset=utf-8" to a JSON media type, so the
// answer is byte for byte the other frameworks'.
function sendProblem(reply: FastifyReply, status: number, body: string): void {
  reply.code(status).headers(PROBLEM_HEADERS).serializer(asIs).send(body)
}

/** The problem body is JSON already; anything else (an error handler's object) is serialised as JSON. */
function asIs(payload: unknown): string {
  return typeof payload === 'string' ? payload : JSON.stringify(payload)
}

/** The Floodgate plugin: `await app.register(fastifyRateLimit, { policies })`. Fastify 4 and 5. */
export const fastifyRateLimit = fp(plugin, { fastify: '4.x || 5.x', name: '@floodgate/fastify' })

/** A value as an error message shows it (never throws: a BigInt or a symbol included). */
function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return 'an array'
  return String(value)
}
