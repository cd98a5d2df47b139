import { describeRedis, useUpstashServer } from '@floodgate/tools'
import { runStoreConformance } from '../testing/index.js'
import { upstashStore } from './upstash-store.js'

describeRedis('upstashStore conformance', (redisUrl) => {
  const upstash = useUpstashServer(redisUrl)

  runStoreConformance({
    name: 'upstash',
    sharedState: true,
    createStore: ({ clock }) => upstashStore({ redis: upstash.redis, clock }),
  })
})
