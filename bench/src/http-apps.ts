// The servers of the HTTP benchmark: one tiny JSON route per framework, bare, behind Floodgate or
// behind the framework's usual rate limiter. Every limited variant is configured alike: one counter
// per client IP, a one-minute fixed window (the peers' algorithm), and the same limit.
import type { Server } from 'node:http'
import { fixedWindow, type HeaderFormat } from '@floodgate/core'
import type { RequestHandler } from 'express'
import type { FastifyInstance } from 'fastify'
import type { Middleware as KoaMiddleware } from 'koa'

export const FRAMEWORKS = ['express', 'koa', 'fastify'] as const
export type Framework = (typeof FRAMEWORKS)[number]

/**
 * `bare`: no limiter. `headers-only`: no limiter, but a middleware setting the same rate-limit
 * headers as the like-for-like Floodgate row, with constant values: the floor any limiter sending
 * them pays. `*-allowed` never denies, `*-denied` denies all but the first request.
 * `constant-denied`: no limiter, every request answered with a constant 429 carrying the headers and
 * the problem+json body of the like-for-like Floodgate 429: the floor of any 429 that sends them.
 * `floodgate-*` sends the same rate-limit headers as the framework's peer (like for like);
 * `floodgate-allowed-default-headers` sends Floodgate's defaults (draft-8 + legacy) where they differ.
 */
export const VARIANTS = [
  'bare',
  'headers-only',
  'floodgate-allowed',
  'floodgate-allowed-default-headers',
  'peer-allowed',
  'floodgate-denied',
  'peer-denied',
  'constant-denied',
] as const
export type Variant = (typeof VARIANTS)[number]

/** The variants measured for a framework: the default-headers row only where it differs. */
export function variantsOf(framework: Framework): Variant[] {
  return VARIANTS.filter((v) => v !== 'floodgate-allowed-default-headers' || framework !== 'express')
}

/**
 * Floodgate's `headers` option matching what the peer sends: express-rate-limit is set to draft-8 +
 * X-RateLimit-* (Floodgate's default); koa-ratelimit and @fastify/rate-limit send X-RateLimit-* only.
 */
function floodgateHeaders(framework: Framework, variant: Variant): HeaderFormat[] {
  if (framework === 'express' || variant === 'floodgate-allowed-default-headers') return ['draft-8', 'legacy']
  return ['legacy']
}

/**
 * The like-for-like Floodgate headers of each framework, with constant values (`headers-only`).
 * Names in lowercase, the cheapest spelling for Node and Fastify, as Floodgate writes them.
 */
const LEGACY_CONSTANT_HEADERS = {
  'x-ratelimit-limit': '1000000000',
  'x-ratelimit-remaining': '999999999',
  'x-ratelimit-reset': '1800000060',
}
const CONSTANT_HEADERS: Record<Framework, Record<string, string>> = {
  express: {
    'ratelimit-policy': '"fixed-window";q=1000000000;w=60',
    ratelimit: '"fixed-window";r=999999999;t=60',
    ...LEGACY_CONSTANT_HEADERS,
  },
  koa: LEGACY_CONSTANT_HEADERS,
  fastify: LEGACY_CONSTANT_HEADERS,
}

/**
 * What `constant-denied` adds to the constant headers: Floodgate's 429 of this benchmark's policy,
 * its Retry-After and body fixed at one value (the body is the one `problemBody()` writes).
 */
const CONSTANT_DENIAL = {
  headers: { 'retry-after': '60', 'content-type': 'application/problem+json', 'cache-control': 'no-store' },
  body: JSON.stringify({
    type: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
    title: 'Too Many Requests',
    status: 429,
    detail: 'Rate limit exceeded for policy "fixed-window"; retry in 60 s.',
    'violated-policies': ['fixed-window'],
  }),
}

function constantDenialHeaders(framework: Framework): [string, string][] {
  return Object.entries({ ...CONSTANT_HEADERS[framework], ...CONSTANT_DENIAL.headers })
}

/** The usual rate limiter of each framework, as the tables name it. */
export const PEERS: Record<Framework, string> = {
  express: 'express-rate-limit',
  koa: 'koa-ratelimit',
  fastify: '@fastify/rate-limit',
}

export const ROUTE = '/json'
const WINDOW_MS = 60_000
/** High enough that no run of the benchmark reaches it. */
const NEVER_DENIES = 1_000_000_000

function policy(limit: number) {
  return fixedWindow({ limit, window: WINDOW_MS })
}

function limitOf(variant: Variant): number {
  return variant.endsWith('-denied') ? 1 : NEVER_DENIES
}

/**
 * The time the selected variant's middleware (or hook) takes before it hands the request on, summed
 * over requests, on a server started `'switch-timed'`: from just before it to the moment it calls
 * `next()` (Express, Koa) or to the next hook (Fastify, whose hook runner is inside the span for
 * every variant alike). A denied request never hands on and is not counted.
 */
export const ownTime = { micros: 0, requests: 0 }

/**
 * How a server is started: one variant, every variant behind a switch, or that and timed; or
 * `'interleaved'`: every variant at once, each request served by the variant its
 * {@link VARIANT_HEADER} names (its index in `variantsOf(framework)`; on Fastify, its path).
 */
export type ServerMode = Variant | 'switch' | 'switch-timed' | 'interleaved'

/** The request header naming a variant's index on an `'interleaved'` server. */
export const VARIANT_HEADER = 'x-bench-variant'

/** A running benchmark server: one variant, or every variant of a framework behind a switch. */
export interface BenchServer {
  server: Server
  /** Makes `variant` the one served (a switchable server only); returns the path to load. */
  select(variant: Variant): string
}

/**
 * Starts the app on 127.0.0.1 and a free port. `variant`: that variant alone. `'switch'`: every
 * variant of the framework in one process, each built once at start, the one served chosen by
 * `select()` (on Express and Koa one dispatching middleware in front calls the chosen variant's
 * middleware, or `next()` for bare; on Fastify each variant is an encapsulated plugin context with
 * its own route prefix, as Fastify's hooks cannot be swapped). So variants are compared inside one
 * process, with one heap and one JIT state, and a process's own bias cancels out of their difference.
 * `'switch-timed'`: the same, with the selected variant's own span summed in `ownTime`.
 */
export async function startBenchServer(framework: Framework, mode: ServerMode): Promise<BenchServer> {
  const switched = mode === 'switch' || mode === 'switch-timed' || mode === 'interleaved'
  const variants = switched ? variantsOf(framework) : [mode]
  const timed = mode === 'switch-timed'
  const interleaved = mode === 'interleaved'
  switch (framework) {
    case 'express':
      return startExpress(variants, timed, interleaved)
    case 'koa':
      return startKoa(variants, timed, interleaved)
    case 'fastify':
      return startFastify(variants, timed)
  }
}

const clock = performance

function record(startMs: number): void {
  ownTime.micros += (clock.now() - startMs) * 1000
  ownTime.requests++
}

function listening(server: Server): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    if (server.listening) resolve(server)
    else server.once('listening', () => resolve(server))
  })
}

function unknownVariant(variant: Variant): never {
  throw new Error(`this server was not started with variant "${variant}"`)
}

async function expressMiddleware(variant: Variant): Promise<RequestHandler | undefined> {
  const limit = limitOf(variant)
  if (variant.startsWith('floodgate')) {
    const { rateLimit } = await import('@floodgate/express')
    return rateLimit({ policies: policy(limit), headers: floodgateHeaders('express', variant) })
  }
  if (variant.startsWith('peer')) {
    const { rateLimit } = await import('express-rate-limit')
    // The same header set Floodgate sends by default: draft-8 fields plus X-RateLimit-*.
    return rateLimit({ windowMs: WINDOW_MS, limit, standardHeaders: 'draft-8', legacyHeaders: true })
  }
  if (variant === 'headers-only') {
    const headers = Object.entries(CONSTANT_HEADERS.express)
    return (_req, res, next) => {
      for (const [name, value] of headers) res.setHeader(name, value)
      next()
    }
  }
  if (variant === 'constant-denied') {
    // As the Floodgate middleware answers: straight to Node's response.
    const headers = constantDenialHeaders('express')
    return (_req, res) => {
      res.statusCode = 429
      for (const [name, value] of headers) res.setHeader(name, value)
      res.end(CONSTANT_DENIAL.body)
    }
  }
  return undefined
}

async function startExpress(
  variants: readonly Variant[],
  timed: boolean,
  interleaved: boolean,
): Promise<BenchServer> {
  const { default: express } = await import('express')
  const app = express()
  let select: (variant: Variant) => string = () => ROUTE
  if (variants.length === 1) {
    const middleware = await expressMiddleware(variants[0]!)
    if (middleware !== undefined) app.use(middleware)
  } else {
    const passOn: RequestHandler = (_req, _res, next) => next()
    const chosen = new Map<Variant, RequestHandler>()
    for (const v of variants) chosen.set(v, (await expressMiddleware(v)) ?? passOn)
    let current = passOn
    if (interleaved) {
      const byIndex = variants.map((v) => chosen.get(v)!)
      app.use((req, res, next) => byIndex[Number(req.headers[VARIANT_HEADER])]!(req, res, next))
    } else if (timed) {
      app.use((req, res, next) => {
        const start = clock.now()
        current(req, res, (error?: unknown) => {
          record(start)
          next(error)
        })
      })
    } else {
      app.use((req, res, next) => current(req, res, next))
    }
    select = (variant) => {
      current = chosen.get(variant) ?? unknownVariant(variant)
      return ROUTE
    }
  }
  app.get(ROUTE, (_req, res) => {
    res.json({ hello: 'world' })
  })
  return { server: await listening(app.listen(0, '127.0.0.1')), select }
}

async function koaMiddleware(variant: Variant): Promise<KoaMiddleware | undefined> {
  const limit = limitOf(variant)
  if (variant.startsWith('floodgate')) {
    const { rateLimit } = await import('@floodgate/koa')
    return rateLimit({ policies: policy(limit), headers: floodgateHeaders('koa', variant) })
  }
  if (variant.startsWith('peer')) {
    const { default: ratelimit } = await import('koa-ratelimit')
    return ratelimit({
      driver: 'memory',
      db: new Map(),
      duration: WINDOW_MS,
      max: limit,
      id: (ctx) => ctx.ip,
    })
  }
  if (variant === 'headers-only') {
    const headers = Object.entries(CONSTANT_HEADERS.koa)
    // No async frame: the least a middleware can cost.
    return (ctx, next) => {
      for (const [name, value] of headers) ctx.res.setHeader(name, value)
      return next()
    }
  }
  if (variant === 'constant-denied') {
    // As the Floodgate middleware answers: headers to Node's response, status and body through Koa.
    const headers = constantDenialHeaders('koa')
    return (ctx) => {
      for (const [name, value] of headers) ctx.res.setHeader(name, value)
      ctx.status = 429
      ctx.body = CONSTANT_DENIAL.body
    }
  }
  return undefined
}

async function startKoa(
  variants: readonly Variant[],
  timed: boolean,
  interleaved: boolean,
): Promise<BenchServer> {
  const { default: Koa } = await import('koa')
  const app = new Koa()
  let select: (variant: Variant) => string = () => ROUTE
  if (variants.length === 1) {
    const middleware = await koaMiddleware(variants[0]!)
    if (middleware !== undefined) app.use(middleware)
  } else {
    const passOn: KoaMiddleware = (_ctx, next) => next()
    const chosen = new Map<Variant, KoaMiddleware>()
    for (const v of variants) chosen.set(v, (await koaMiddleware(v)) ?? passOn)
    let current = passOn
    if (interleaved) {
      const byIndex = variants.map((v) => chosen.get(v)!)
      app.use((ctx, next) => byIndex[Number(ctx.req.headers[VARIANT_HEADER])]!(ctx, next))
    } else if (timed) {
      app.use((ctx, next) => {
        const start = clock.now()
        return current(ctx, () => {
          record(start)
          return next()
        })
      })
    } else {
      app.use((ctx, next) => current(ctx, next))
    }
    select = (variant) => {
      current = chosen.get(variant) ?? unknownVariant(variant)
      return ROUTE
    }
  }
  app.use(async (ctx) => {
    if (ctx.method === 'GET' && ctx.path === ROUTE) ctx.body = { hello: 'world' }
  })
  return { server: await listening(app.listen(0, '127.0.0.1')), select }
}

async function registerFastifyVariant(app: FastifyInstance, variant: Variant, timed: boolean): Promise<void> {
  const limit = limitOf(variant)
  if (timed) {
    // The span runs from this context's first onRequest hook to its preValidation hook: the
    // variant's route-level onRequest hook, and Fastify's hook runner around it, lie between.
    app.decorateRequest('benchStart', 0)
    app.addHook('onRequest', (request, _reply, done) => {
      ;(request as unknown as { benchStart: number }).benchStart = clock.now()
      done()
    })
    app.addHook('preValidation', (request, _reply, done) => {
      record((request as unknown as { benchStart: number }).benchStart)
      done()
    })
  }
  if (variant.startsWith('floodgate')) {
    const { fastifyRateLimit } = await import('@floodgate/fastify')
    await app.register(fastifyRateLimit, {
      policies: policy(limit),
      headers: floodgateHeaders('fastify', variant),
    })
  } else if (variant.startsWith('peer')) {
    const { default: rateLimit } = await import('@fastify/rate-limit')
    await app.register(rateLimit, { max: limit, timeWindow: WINDOW_MS })
  } else if (variant === 'headers-only') {
    const headers = CONSTANT_HEADERS.fastify
    // A callback hook: no promise, the least a hook can cost.
    app.addHook('onRequest', (_request, reply, done) => {
      reply.headers(headers)
      done()
    })
  } else if (variant === 'constant-denied') {
    // As the Floodgate plugin answers: a string body its own serializer passes through as it is.
    const headers = Object.fromEntries(constantDenialHeaders('fastify'))
    const asIs = (payload: unknown) => (typeof payload === 'string' ? payload : JSON.stringify(payload))
    app.addHook('onRequest', (_request, reply, _done) => {
      reply.code(429).headers(headers).serializer(asIs).send(CONSTANT_DENIAL.body)
    })
  }
  app.get(ROUTE, async () => ({ hello: 'world' }))
}

async function startFastify(variants: readonly Variant[], timed: boolean): Promise<BenchServer> {
  const { default: Fastify } = await import('fastify')
  const app = Fastify({ logger: false })
  let select: (variant: Variant) => string = () => ROUTE
  if (variants.length === 1) {
    await registerFastifyVariant(app, variants[0]!, false)
  } else {
    // Prefixes of one length, so no variant's route is found faster than another's.
    const prefixes = new Map(variants.map((v, i) => [v, `/v${i}`]))
    for (const [v, prefix] of prefixes) {
      await app.register((child) => registerFastifyVariant(child, v, timed), { prefix })
    }
    select = (variant) => (prefixes.get(variant) ?? unknownVariant(variant)) + ROUTE
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { server: app.server, select }
}
