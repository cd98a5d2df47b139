// Sources of the consumer apps. One body, valid as JavaScript and as strict TypeScript (default
// parameter values give every parameter a type), under four module headers: ESM, CJS, and
// TypeScript compiled as ESM or CJS. Each app answers a real request through each framework.

/** The frameworks with a Floodgate adapter, by package. */
export const ADAPTERS = ['express', 'koa', 'fastify'] as const
export type Adapter = (typeof ADAPTERS)[number]

type ModuleStyle = 'esm' | 'cjs'

function header(style: ModuleStyle, adapters: readonly Adapter[], typescript: boolean): string {
  const esm = style === 'esm' || typescript
  const lines: string[] = esm
    ? [
        `import { once } from 'node:events'`,
        `import { createServer } from 'node:http'`,
        `import { createRateLimiter, DEFAULT_HEADER_FORMATS, FloodgateError, fixedWindow, problemDetails, rateLimitHeaders } from '@floodgate/core'`,
        `import { redisStore } from '@floodgate/core/redis'`,
        `import { fromUpstash, upstashStore } from '@floodgate/core/upstash'`,
      ]
    : [
        `const { once } = require('node:events')`,
        `const { createServer } = require('node:http')`,
        `const { createRateLimiter, DEFAULT_HEADER_FORMATS, FloodgateError, fixedWindow, problemDetails, rateLimitHeaders } = require('@floodgate/core')`,
        `const { redisStore } = require('@floodgate/core/redis')`,
        `const { fromUpstash, upstashStore } = require('@floodgate/core/upstash')`,
      ]
  for (const adapter of adapters) {
    const framework = { express: 'express', koa: 'Koa', fastify: 'Fastify' }[adapter]
    const named = adapter === 'fastify' ? 'fastifyRateLimit' : `rateLimit as ${adapter}RateLimit`
    if (esm) {
      lines.push(`import ${framework} from '${adapter}'`, `import { ${named} } from '@floodgate/${adapter}'`)
      if (typescript && adapter === 'fastify') {
        lines.push(`import type { FastifyRateLimitOptions } from '@floodgate/fastify'`)
      }
    } else {
      lines.push(
        `const ${framework} = require('${adapter}')`,
        `const { ${named.replace(' as ', ': ')} } = require('@floodgate/${adapter}')`,
      )
    }
  }
  return lines.join('\n')
}

const CHECKS = `
const policies = () => fixedWindow({ limit: 1, window: '1 m' })

const portOf = (address = {} as unknown) =>
  address !== null && typeof address === 'object' && 'port' in address ? Number(address.port) : 0

// Limit 1: the first request passes with rate-limit headers, the second gets a 429 problem.
const expectLimited = async (name = '', baseUrl = '') => {
  const first = await fetch(baseUrl + '/')
  const second = await fetch(baseUrl + '/')
  const problems = []
  if (first.status !== 200) problems.push('first request: status ' + first.status + ', expected 200')
  if (!/^"fixed-window";r=0;t=\\d+$/.test(first.headers.get('ratelimit') ?? '')) {
    problems.push('first request: RateLimit header ' + first.headers.get('ratelimit'))
  }
  if (second.status !== 429) problems.push('second request: status ' + second.status + ', expected 429')
  const reset = /;t=(\\d+)$/.exec(second.headers.get('ratelimit') ?? '')
  if (reset === null || second.headers.get('retry-after') !== String(Math.max(1, Number(reset[1])))) {
    problems.push('second request: RateLimit ' + second.headers.get('ratelimit') + ', Retry-After ' + second.headers.get('retry-after'))
  }
  if (second.headers.get('ratelimit-policy') !== '"fixed-window";q=1;w=60') {
    problems.push('second request: RateLimit-Policy ' + second.headers.get('ratelimit-policy'))
  }
  if (second.headers.get('x-ratelimit-remaining') !== '0') problems.push('second request: no X-RateLimit-Remaining: 0')
  if (!(second.headers.get('content-type') ?? '').startsWith('application/problem+json')) {
    problems.push('second request: content-type ' + second.headers.get('content-type'))
  }
  const body = JSON.parse(await second.text())
  if (body.status !== 429 || !Array.isArray(body['violated-policies'])) problems.push('second request: body ' + JSON.stringify(body))
  if (problems.length > 0) throw new Error(name + ': ' + problems.join('; '))
  console.log('ok ' + name)
}

const withServer = async (name = '', server = createServer()) => {
  if (!server.listening) await once(server, 'listening')
  try {
    await expectLimited(name, 'http://127.0.0.1:' + portOf(server.address()))
  } finally {
    server.closeAllConnections()
    server.close()
  }
}

const checkCore = async () => {
  for (const [name, value] of Object.entries({ redisStore, upstashStore, fromUpstash })) {
    if (typeof value !== 'function') throw new Error('@floodgate/core: ' + name + ' is not a function')
  }
  // One FloodgateError class across the entry points (in CJS too): an error thrown by the redis
  // entry is an instance of the class the main entry exports.
  const thrownBy = (fn = () => {}) => {
    try {
      fn()
    } catch (error) {
      return error
    }
    return undefined
  }
  const thrown = thrownBy(() => redisStore({ client: JSON.parse('{}') }))
  if (!(thrown instanceof FloodgateError)) {
    throw new Error('@floodgate/core/redis threw ' + String(thrown) + ', not a FloodgateError of @floodgate/core')
  }
  // An option given as undefined is not given: typed so under exactOptionalPropertyTypes too. An
  // async onStoreFailure is typed as one (typescript-eslint's no-misused-promises reads the type).
  const limiter = createRateLimiter({
    policies: policies(),
    store: undefined,
    prefix: undefined,
    onStoreFailure: async () => {},
  })
  const server = createServer(async (req, res) => {
    const decision = await limiter.limit(req.socket.remoteAddress ?? 'unknown', { tier: undefined, cost: undefined })
    for (const [field, value] of Object.entries(rateLimitHeaders(decision, DEFAULT_HEADER_FORMATS))) {
      res.setHeader(field, value)
    }
    if (decision.allowed) {
      res.end('ok')
      return
    }
    res.statusCode = 429
    res.setHeader('content-type', 'application/problem+json')
    res.end(JSON.stringify(problemDetails(decision)))
  })
  server.listen(0, '127.0.0.1')
  await withServer('@floodgate/core with node:http', server)
  await limiter.close()
}
`

const FRAMEWORK_CHECKS: Record<Adapter, string> = {
  express: `
const checkExpress = async () => {
  const app = express()
  // README: clearing an earlier decision is assigning undefined (exactOptionalPropertyTypes too).
  app.use((req, _res, next) => {
    req.rateLimit = undefined
    next()
  })
  app.use(expressRateLimit({ policies: policies(), key: undefined, headers: undefined }))
  app.get('/', (req, res) => {
    res.send('ok ' + (req.rateLimit === undefined ? '' : req.rateLimit.remaining))
  })
  await withServer('@floodgate/express', app.listen(0, '127.0.0.1'))
}
`,
  koa: `
const checkKoa = async () => {
  const app = new Koa()
  app.use((ctx, next) => {
    ctx.state.rateLimit = undefined
    return next()
  })
  app.use(koaRateLimit({ policies: policies() }))
  app.use((ctx) => {
    ctx.body = 'ok ' + (ctx.state.rateLimit === undefined ? '' : ctx.state.rateLimit.remaining)
  })
  await withServer('@floodgate/koa', app.listen(0, '127.0.0.1'))
}
`,
  fastify: `
const checkFastify = async () => {
  const app = Fastify()
  const shared = createRateLimiter({ policies: policies() })
  // Options in a variable of their declared type, whose \`prefix\` meets register()'s own option of
  // that name (exactOptionalPropertyTypes: the two must agree).
  const options: FastifyRateLimitOptions = { policies: policies() }
  await app.register(fastifyRateLimit, options)
  app.get('/', async (request) => 'ok ' + (request.rateLimit === undefined ? '' : request.rateLimit.remaining))
  // A limiter of the core's in a route's config: in a program holding both the .mts and the .cts
  // app, one of the two is typed by the other module format's declaration files.
  app.get('/shared', { config: { rateLimit: { limiter: shared } } }, async () => 'ok')
  await app.listen({ port: 0, host: '127.0.0.1' })
  try {
    await expectLimited('@floodgate/fastify', 'http://127.0.0.1:' + portOf(app.server.address()))
  } finally {
    await app.close()
    await shared.close()
  }
}
`,
}

function footer(adapters: readonly Adapter[]): string {
  const calls = ['checkCore', ...adapters.map((a) => `check${a[0]!.toUpperCase()}${a.slice(1)}`)]
  return `
const main = async () => {
${calls.map((c) => `  await ${c}()`).join('\n')}
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
`
}

/**
 * One consumer app's source. `typescript` keeps the `as unknown` and the type annotation that plain
 * JavaScript cannot parse.
 */
export function appSource(style: ModuleStyle, adapters: readonly Adapter[], typescript: boolean): string {
  let body = CHECKS + adapters.map((a) => FRAMEWORK_CHECKS[a]).join('') + footer(adapters)
  if (!typescript) body = body.replace(' as unknown', '').replace(': FastifyRateLimitOptions', '')
  return `${header(style, adapters, typescript)}\n${body}`
}
