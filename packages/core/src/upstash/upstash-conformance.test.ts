import { describeRedis, startUpstashServer, type UpstashServer, upstashTestClient } from '@floodgate/tools'
import type { Redis } from '@upstash/redis'
import { afterAll, beforeAll } from 'vitest'
import { runStoreConformance } from '../testing/index.js'
import { upstashStore } from './upstash-store.js'

describeRedis('upstashStore conformance', (redisUrl) => {
  let server: UpstashServer
  let redis: Redis
  beforeAll(async () => {
    server = await startUpstashServer({ redisUrl })
    redis = upstashTestClient(server)
  })
  afterAll(async () => {
    await server?.stop()
  })

  runStoreConformance({
    name: 'upstash',
    sharedState: true,
    createStore: ({ clock }) => upstashStore({ redis, clock }),
  })
})
