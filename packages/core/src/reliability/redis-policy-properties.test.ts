import { describeRedis } from '@floodgate/tools'
import { Redis } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'
import { redisStore } from '../redis/redis-store.js'
import { policyProperties } from './policy-properties.js'

// The independent models of DESIGN §3 (not the reference transitions) against the Lua script over
// ioredis, 1,000 traces per policy (issue #5, item 5). Each trace has its own prefix.

describeRedis('redisStore (ioredis) against independent policy models', (redisUrl) => {
  let client: Redis
  beforeAll(async () => {
    client = new Redis(redisUrl, { enableOfflineQueue: false, autoResendUnfulfilledCommands: false })
    await new Promise((resolve) => client.once('ready', resolve))
  })
  afterAll(() => client?.disconnect())

  policyProperties('redis (ioredis)', (clock) => redisStore({ client, clock }))
})
