import type { Redis } from '@upstash/redis'
import { afterAll, beforeAll } from 'vitest'
import { upstashTestClient } from './upstash-client.js'
import { startUpstashServer, type UpstashServer } from './upstash-server.js'

/** A suite's local Upstash server (its URL, token and counts) and a client of it. */
export interface UpstashSuite extends Pick<UpstashServer, 'url' | 'token' | 'stats'> {
  /** An @upstash/redis client of the server, as {@link upstashTestClient} makes one. */
  readonly redis: Redis
}

/**
 * In a `describeRedis` body: a local Upstash server in front of `redisUrl`, started before the
 * suite's tests and stopped after them. Read its fields inside hooks and tests, once it runs.
 */
export function useUpstashServer(redisUrl: string): UpstashSuite {
  let server: UpstashServer | undefined
  let redis: Redis | undefined
  beforeAll(async () => {
    server = await startUpstashServer({ redisUrl })
    redis = upstashTestClient(server)
  })
  afterAll(async () => {
    await server?.stop()
  })
  const started = (): UpstashServer => {
    if (server === undefined)
      throw new Error('useUpstashServer: read in a hook or a test, once the suite runs')
    return server
  }
  return {
    get url() {
      return started().url
    },
    get token() {
      return started().token
    },
    get stats() {
      return started().stats
    },
    get redis() {
      started()
      return redis!
    },
  }
}
