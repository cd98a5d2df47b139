import { randomUUID } from 'node:crypto'
import {
  describeRedisServer,
  type RedisServer,
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
// limit 100, on a private Redis whose script cache is flushed every 250 ms.

const RUN = randomUUID().slice(0, 8)
const SETS = ['fixed', 'sliding', 'bucket', 'two'] as const
const REPEATS = 5

/** EVAL calls so far: each one followed a NOSCRIPT, so they prove the flushes hit live traffic. */
async function evalCalls(admin: Redis): Promise<number> {
  return Number(/^cmdstat_eval:calls=(\d+)/m.exec(await admin.info('commandstats'))?.[1] ?? 0)
}

function total(results: LoadResult[], reason: string): number {
  return results.reduce((sum, r) => sum + (r.reasons[reason] ?? 0), 0)
}

describeRedisServer('8 processes × 250 concurrent limit() calls on one identifier', () => {
  let server: RedisServer
  let upstash: UpstashServer
  let children: LoadChildren
  let admin: Redis

  beforeAll(async () => {
    server = await startRedisServer()
    upstash = await startUpstashServer({ redisUrl: server.url })
    admin = new Redis(server.url)
    children = await startLoadChildren(8, server.url, upstash)
  })
  afterAll(async () => {
    await children?.stop()
    admin?.disconnect()
    await upstash?.stop()
    await server?.stop()
  })

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
              timeoutMs: 10_000,
              onStoreError: 'deny',
            }
            const results = await children.run(job)
            expect({
              set,
              run,
              admitted: total(results, 'allowed'),
              limited: total(results, 'limited'),
            }).toEqual({
              set,
              run,
              admitted: 100,
              limited: 1_900,
            })
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
