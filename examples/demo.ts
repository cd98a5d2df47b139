// `pnpm demo`: starts the Express, Koa and Fastify examples on free ports (memory store), sends each
// a burst of 8 requests against its 5-per-minute policy, and prints what came back.
import { createRateLimiter, fixedWindow, slidingWindow, tokenBucket } from '@floodgate/core'
import { start as startExpress } from './express/server.js'
import { start as startFastify } from './fastify/server.js'
import { start as startKoa } from './koa/server.js'
import { type BurstResult, rateLimitHeadersOf, sendBurst } from './shared/burst.js'
import type { RunningExample, StartOptions } from './shared/running-example.js'

const BURST = 8
const FRAMEWORKS: [string, (options: StartOptions) => Promise<RunningExample>][] = [
  ['Express', startExpress],
  ['Koa', startKoa],
  ['Fastify', startFastify],
]

function frameworkTable(name: string, url: string, burst: BurstResult): string {
  const lines = [
    `== ${name}: ${BURST} requests to ${url} (sliding window "api", 5 per minute per client IP) ==`,
    '',
    '   #  status  RateLimit               Retry-After',
  ]
  burst.answers.forEach((a, i) => {
    const rateLimit = a.headers.ratelimit ?? '-'
    lines.push(
      `  ${String(i + 1).padStart(2)}  ${a.status}     ${rateLimit.padEnd(22)}  ${a.headers['retry-after'] ?? '-'}`,
    )
  })
  lines.push('', `  admitted ${burst.admitted}, limited ${burst.limited}`)
  if (burst.firstLimited !== undefined) {
    lines.push('  headers of the first limited response:')
    const headers = [
      ['content-type', burst.firstLimited.headers['content-type'] ?? ''] as [string, string],
      ...rateLimitHeadersOf(burst.firstLimited),
    ]
    for (const [header, value] of headers) lines.push(`    ${`${header}:`.padEnd(23)} ${value}`)
  }
  return lines.join('\n')
}

async function frameworks(): Promise<void> {
  const summary: string[] = []
  for (const [name, start] of FRAMEWORKS) {
    // An empty environment: the demo always runs on the memory store, whatever REDIS_URL says.
    const app = await start({ port: 0, env: {} })
    try {
      const url = `${app.url}/api/hello`
      const burst = await sendBurst(url, BURST)
      console.log(`${frameworkTable(name, url, burst)}\n`)
      summary.push(
        `| ${name.padEnd(9)} | ${String(burst.admitted).padStart(8)} | ${String(burst.limited).padStart(7)} |`,
      )
    } finally {
      await app.close()
    }
  }
  console.log(
    ['| framework | admitted | limited |', '| --------- | -------: | ------: |', ...summary].join('\n'),
  )
}

/** The same burst straight against the core, one line per policy kind (no HTTP). */
async function coreOnly(): Promise<void> {
  console.log(`\n== Core only: limiter.limit() ${BURST} times, capacity 5 ==\n`)
  const policies = [
    fixedWindow({ limit: 5, window: '1 m' }),
    slidingWindow({ limit: 5, window: '1 m' }),
    tokenBucket({ capacity: 5, refillRate: 1, interval: '10 s' }),
  ]
  for (const policy of policies) {
    const limiter = createRateLimiter({ policies: policy })
    const marks: string[] = []
    for (let i = 0; i < BURST; i++) marks.push((await limiter.limit('demo-client')).allowed ? '✓' : '✗')
    console.log(`  ${policy.kind.padEnd(15)} ${marks.join(' ')}`)
    await limiter.close()
  }
}

await frameworks()
await coreOnly()
