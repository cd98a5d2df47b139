import { randomUUID } from 'node:crypto'
import { describeRedis } from '@floodgate/tools'
import { Redis } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'
import { policyProperties } from '../reliability/policy-properties.js'
import type { RateLimitStore } from '../store.js'
import { redisStore } from './redis-store.js'

// The independent models of DESIGN §3 (not the reference transitions) against the Lua script.

/** The properties expect a fresh store per case; on a shared Redis, a fresh namespace does it. */
function namespaced(store: RateLimitStore, namespace: string): RateLimitStore {
  return {
    name: store.name,
    local: store.local,
    consume: (request) => store.consume({ ...request, prefix: `${namespace}-${request.prefix}` }),
    reset: (request) => store.reset({ ...request, prefix: `${namespace}-${request.prefix}` }),
    close: () => store.close(),
  }
}

describeRedis('redisStore against independent policy models', (redisUrl) => {
  let client: Redis
  let stores = 0
  beforeAll(async () => {
    client = new Redis(redisUrl, { enableOfflineQueue: false, autoResendUnfulfilledCommands: false })
    await new Promise((resolve) => client.once('ready', resolve))
  })
  afterAll(() => client?.disconnect())

  const run = randomUUID().slice(0, 8)
  policyProperties(
    'redis (ioredis)',
    (clock) => namespaced(redisStore({ client, clock }), `props-${run}-${++stores}`),
    { numRuns: 150 },
  )
})
