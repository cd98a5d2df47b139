import { describeRedis } from '@floodgate/tools'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, beforeAll } from 'vitest'
import { runStoreConformance } from '../testing/index.js'
import { redisStore } from './redis-store.js'

describeRedis('redisStore conformance', (redisUrl) => {
  let ioredis: Redis
  let nodeRedis: ReturnType<typeof createClient>
  beforeAll(async () => {
    ioredis = new Redis(redisUrl, { enableOfflineQueue: false, autoResendUnfulfilledCommands: false })
    await new Promise((resolve) => ioredis.once('ready', resolve))
    nodeRedis = createClient({ url: redisUrl, disableOfflineQueue: true })
    await nodeRedis.connect()
  })
  afterAll(async () => {
    ioredis?.disconnect()
    await nodeRedis?.close()
  })

  runStoreConformance({
    name: 'redis (ioredis)',
    sharedState: true,
    createStore: ({ clock }) => redisStore({ client: ioredis, clock }),
  })
  runStoreConformance({
    name: 'redis (node-redis)',
    sharedState: true,
    createStore: ({ clock }) => redisStore({ client: nodeRedis, clock }),
  })
})
