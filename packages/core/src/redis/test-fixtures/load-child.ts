// A child process for the multi-process tests: it opens every kind of client once, then for each
// JSON line on stdin fires `calls` concurrent limit() calls and prints one JSON line of counts.
// Run as `node --conditions=@floodgate/source --import tsx load-child.ts <redisUrl> <upstashUrl> <token> <clusterNodesJson>`.
import { createInterface } from 'node:readline'
import { Redis as UpstashRedis } from '@upstash/redis'
import { Cluster, Redis } from 'ioredis'
import { createClient } from 'redis'
import { createRateLimiter, fixedWindow, type Policy, slidingWindow, tokenBucket } from '../../index.js'
import { upstashStore } from '../../upstash/index.js'
import { redisStore } from '../index.js'

const [redisUrl, upstashUrl, upstashToken, clusterNodes] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
]

const POLICY_SETS: Record<string, Policy[]> = {
  fixed: [fixedWindow({ limit: 100, window: '1 d' })],
  sliding: [slidingWindow({ limit: 100, window: '1 d' })],
  bucket: [tokenBucket({ capacity: 100, refillRate: 1, interval: '1 d' })],
  two: [
    tokenBucket({ name: 'burst', capacity: 120, refillRate: 1, interval: '1 d' }),
    fixedWindow({ name: 'day', limit: 100, window: '1 d' }),
  ],
}

const ioredis = new Redis(redisUrl, {
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
})
ioredis.on('error', () => {})
const nodeRedis = createClient({ url: redisUrl, disableOfflineQueue: true })
nodeRedis.on('error', () => {})
const upstash = new UpstashRedis({
  url: upstashUrl,
  token: upstashToken,
  retry: { retries: 0 },
  enableTelemetry: false,
})
const cluster = new Cluster(JSON.parse(clusterNodes) as { host: string; port: number }[], {
  enableOfflineQueue: false,
  retryDelayOnFailover: 0,
})
cluster.on('error', () => {})
await nodeRedis.connect()
await new Promise((resolve) =>
  cluster.status === 'ready' ? resolve(undefined) : cluster.once('ready', resolve),
)
// Node connections open lazily; with no offline queue, commands to a node still connecting fail.
await Promise.all(cluster.nodes('master').map((node) => node.ping()))
await new Promise((resolve) =>
  ioredis.status === 'ready' ? resolve(undefined) : ioredis.once('ready', resolve),
)
const stores = {
  ioredis: redisStore({ client: ioredis }),
  'node-redis': redisStore({ client: nodeRedis }),
  upstash: upstashStore({ redis: upstash }),
  'ioredis-cluster': redisStore({ client: cluster }),
}

interface Job {
  store: keyof typeof stores
  set: string
  prefix: string
  calls: number
  timeoutMs: number
  onStoreError: 'allow' | 'deny'
}

/** A store error's causes with their codes, e.g. `fetch failed <- ECONNRESET: read ECONNRESET`. */
function causeChain(error: Error): string {
  const parts: string[] = []
  let cause: unknown = error.cause ?? error
  for (let depth = 0; cause instanceof Error && depth < 5; depth++) {
    const code = (cause as NodeJS.ErrnoException).code
    parts.push(typeof code === 'string' ? `${code}: ${cause.message}` : cause.message)
    cause = cause.cause
  }
  return parts.join(' <- ')
}

process.stdout.write('ready\n')
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'exit') break
  const job = JSON.parse(line) as Job
  const limiter = createRateLimiter({
    policies: POLICY_SETS[job.set]!,
    store: stores[job.store],
    prefix: job.prefix,
    timeout: job.timeoutMs,
    onStoreError: job.onStoreError,
    logger: false,
  })
  const reasons: Record<string, number> = {}
  let slowestMs = 0
  let firstError: string | undefined
  await Promise.all(
    Array.from({ length: job.calls }, async () => {
      const start = performance.now()
      const d = await limiter.limit('one-identifier')
      slowestMs = Math.max(slowestMs, performance.now() - start)
      reasons[d.reason] = (reasons[d.reason] ?? 0) + 1
      if (d.error !== undefined) firstError ??= causeChain(d.error)
    }),
  )
  await limiter.close()
  process.stdout.write(`${JSON.stringify({ reasons, slowestMs, firstError })}\n`)
}
ioredis.disconnect()
cluster.disconnect()
await nodeRedis.close()
