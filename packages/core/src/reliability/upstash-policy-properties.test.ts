import { describeRedis, upstashTestClient, useUpstashServer } from '@floodgate/tools'
import { upstashStore } from '../upstash/upstash-store.js'
import { policyProperties } from './policy-properties.js'

// The same properties through the real @upstash/redis client over REST, 1,000 traces per policy.

describeRedis('upstashStore against independent policy models', (redisUrl) => {
  const upstash = useUpstashServer(redisUrl)

  policyProperties('upstash', (clock) =>
    upstashStore({
      redis: upstashTestClient(upstash),
      clock,
    }),
  )
})
