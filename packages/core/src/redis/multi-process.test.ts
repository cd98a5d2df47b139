import { randomUUID } from 'node:crypto'
import {
  describeRedisServer,
  type RedisCluster,
  type RedisServer,
  startRedisCluster,
  startRedisServer,
  startUpstashServer,
  type UpstashServer,
} from '@floodgate/tools'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import {
  type LoadChildren,
  type LoadJob,
  type LoadResult,
  startLoadChildren,
} from './test-fixtures/load-children.js'

// DESIGN §3 under real concurrency: 8 processes × 250 concurrent limit() calls on one identifier,
// limit 100, on a private Redis whose script cache is flushed every 250 ms. The limiters' timeout
// is 30 s: what is checked is the exact count, and on a loaded machine a call through Upstash has
// taken 8.8 s (a timeout would count as a store error).

const RUN = randomUUID().slice(0, 8)
const SETS = ['fixed', 'sliding', 'bucket', 'two'] as const
const REPEATS = 5

/** EVAL calls so far: each one followed a NOSCRIPT, so they prove the flushes hit live traffic. */
async function evalCalls(admin: Redis): Promise<number> {
  return Number(/^cmdstat_eval:calls=(\d+)/m.exec(await admin.info('commandstats'))?.[1] ?? 0)
}

/** Exactly 100 admitted and 1,900 limited across the 8 processes: no store error, nothing lost. */
function expectExactly100(results: LoadResult[], set: string, run: number): void {
  const reasons: Record<string, number> = {}
  for (const r of results) for (const [k, n] of Object.entries(r.reasons)) reasons[k] = (reasons[k] ?? 0) + n
  const error = results.find((r) => r.firstError !== undefined)?.firstError
  expect({ set, run, reasons, error }).toEqual({
    set,
    run,
    reasons: { allowed: 100, limited: 1_900 },
    error: undefined,
  })
}

describeRedisServer('8 processes × 250 concurrent limit() calls on one identifier', () => {
  let server: RedisServer
  let upstash: UpstashServer
  let children: LoadChildren
  let admin: Redis
  let cluster: RedisCluster

  beforeAll(async () => {
    server = await startRedisServer()
    upstash = await startUpstashServer({ redisUrl: server.url })
    admin = new Redis(server.url)
    cluster = await startRedisCluster({ masters: 3 })
    children = await startLoadChildren(8, server.url, upstash, cluster.nodes)
  })
  afterAll(async () => {
    await children?.stop()
    admin?.disconnect()
    await upstash?.stop()
    await server?.stop()
    await cluster?.stop()
  })

  it('admits exactly 100 through an ioredis Cluster, for each policy and a two-policy request', async () => {
    for (const set of SETS) {
      for (let run = 1; run <= REPEATS; run++) {
        const job: LoadJob = {
          store: 'ioredis-cluster',
          set,
          prefix: `mp-${RUN}-cluster-${set}-${run}`,
          calls: 250,
          timeoutMs: 30_000,
          onStoreError: 'deny',
        }
        const results = await children.run(job)
        expectExactly100(results, set, run)
      }
    }
  }, 120_000)

  for (const store of ['ioredis', 'node-redis', 'upstash'] as const) {
    it(`admits exactly 100 through ${store}, for each policy and a two-policy request, with SCRIPT FLUSH every 250 ms`, async () => {
      let flushes = 0
      const evalsBefore = await evalCalls(admin)
      const flusher = setInterval(() => {
        admin.script('FLUSH').then(
          () => flushes++,
          () => undefined,
        )
      }, 250)
      try {
        for (const set of SETS) {
          for (let run = 1; run <= REPEATS; run++) {
            const job: LoadJob = {
              store,
              set,
              prefix: `mp-${RUN}-${store}-${set}-${run}`,
              calls: 250,
              timeoutMs: 30_000,
              onStoreError: 'deny',
            }
            const results = await children.run(job)
            expectExactly100(results, set, run)
          }
        }
      } finally {
        clearInterval(flusher)
      }
      expect(flushes).toBeGreaterThan(0)
      expect(await evalCalls(admin)).toBeGreaterThan(evalsBefore)
    }, 120_000)
  }
})
