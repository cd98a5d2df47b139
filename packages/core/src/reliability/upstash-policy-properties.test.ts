import { describeRedis, startUpstashServer, type UpstashServer, upstashTestClient } from '@floodgate/tools'
import { afterAll, beforeAll } from 'vitest'
import { upstashStore } from '../upstash/upstash-store.js'
import { policyProperties } from './policy-properties.js'

// The same properties through the real @upstash/redis client over REST, 1,000 traces per policy.

describeRedis('upstashStore against independent policy models', (redisUrl) => {
  let upstash: UpstashServer
  beforeAll(async () => {
    upstash = await startUpstashServer({ redisUrl })
  })
  afterAll(async () => {
    await upstash?.stop()
  })

  policyProperties('upstash', (clock) =>
    upstashStore({
      redis: upstashTestClient(upstash),
      clock,
    }),
  )
})
