// The servers of the HTTP benchmark: one tiny JSON route per framework, bare, behind Floodgate or
// behind the framework's usual rate limiter. Every limited variant is configured alike: one counter
// per client IP, a one-minute fixed window (the peers' algorithm), and the same limit.
import type { Server } from 'node:http'
import { fixedWindow, type HeaderFormat } from '@floodgate/core'

export const FRAMEWORKS = ['express', 'koa', 'fastify'] as const
export type Framework = (typeof FRAMEWORKS)[number]

/**
 * `bare`: no limiter. `headers-only`: no limiter, but a middleware setting the same rate-limit
 * headers as the like-for-like Floodgate row, with constant values: the floor any limiter sending
 * them pays. `*-allowed` never denies, `*-denied` denies all but the first request.
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

/** The like-for-like Floodgate headers of each framework, with constant values (`headers-only`). */
const CONSTANT_HEADERS: Record<Framework, Record<string, string>> = {
  express: {
    'RateLimit-Policy': '"fixed-window";q=1000000000;w=60',
    RateLimit: '"fixed-window";r=999999999;t=60',
    'X-RateLimit-Limit': '1000000000',
    'X-RateLimit-Remaining': '999999999',
    'X-RateLimit-Reset': '1800000060',
  },
  koa: {
    'X-RateLimit-Limit': '1000000000',
    'X-RateLimit-Remaining': '999999999',
    'X-RateLimit-Reset': '1800000060',
  },
  fastify: {
    'X-RateLimit-Limit': '1000000000',
    'X-RateLimit-Remaining': '999999999',
    'X-RateLimit-Reset': '1800000060',
  },
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

/** Starts the app on 127.0.0.1 and a free port; resolves with its HTTP server. */
export async function startBenchServer(framework: Framework, variant: Variant): Promise<Server> {
  switch (framework) {
    case 'express':
      return startExpress(variant)
    case 'koa':
      return startKoa(variant)
    case 'fastify':
      return startFastify(variant)
  }
}

function listening(server: Server): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    if (server.listening) resolve(server)
    else server.once('listening', () => resolve(server))
  })
}

async function startExpress(variant: Variant): Promise<Server> {
  const { default: express } = await import('express')
  const app = express()
  const limit = limitOf(variant)
  if (variant.startsWith('floodgate')) {
    const { rateLimit } = await import('@floodgate/express')
    app.use(rateLimit({ policies: policy(limit), headers: floodgateHeaders('express', variant) }))
  } else if (variant.startsWith('peer')) {
    const { rateLimit } = await import('express-rate-limit')
    // The same header set Floodgate sends by default: draft-8 fields plus X-RateLimit-*.
    app.use(rateLimit({ windowMs: WINDOW_MS, limit, standardHeaders: 'draft-8', legacyHeaders: true }))
  } else if (variant === 'headers-only') {
    const headers = Object.entries(CONSTANT_HEADERS.express)
    app.use((_req, res, next) => {
      for (const [name, value] of headers) res.setHeader(name, value)
      next()
    })
  }
  app.get(ROUTE, (_req, res) => {
    res.json({ hello: 'world' })
  })
  return listening(app.listen(0, '127.0.0.1'))
}

async function startKoa(variant: Variant): Promise<Server> {
  const { default: Koa } = await import('koa')
  const app = new Koa()
  const limit = limitOf(variant)
  if (variant.startsWith('floodgate')) {
    const { rateLimit } = await import('@floodgate/koa')
    app.use(rateLimit({ policies: policy(limit), headers: floodgateHeaders('koa', variant) }))
  } else if (variant.startsWith('peer')) {
    const { default: ratelimit } = await import('koa-ratelimit')
    app.use(
      ratelimit({ driver: 'memory', db: new Map(), duration: WINDOW_MS, max: limit, id: (ctx) => ctx.ip }),
    )
  } else if (variant === 'headers-only') {
    const headers = Object.entries(CONSTANT_HEADERS.koa)
    // No async frame: the least a middleware can cost.
    app.use((ctx, next) => {
      for (const [name, value] of headers) ctx.res.setHeader(name, value)
      return next()
    })
  }
  app.use(async (ctx) => {
    if (ctx.method === 'GET' && ctx.path === ROUTE) ctx.body = { hello: 'world' }
  })
  return listening(app.listen(0, '127.0.0.1'))
}

async function startFastify(variant: Variant): Promise<Server> {
  const { default: Fastify } = await import('fastify')
  const app = Fastify({ logger: false })
  const limit = limitOf(variant)
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
  }
  app.get(ROUTE, async () => ({ hello: 'world' }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  return app.server
}
