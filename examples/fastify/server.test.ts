import { describeRedis, startUpstashServer, type UpstashServer } from '@floodgate/tools'
import { afterAll, beforeAll, describe } from 'vitest'
import { exampleSmokeTests, MEMORY } from '../shared/smoke-suite.js'
import { start } from './server.js'

describe('fastify example', () => {
  exampleSmokeTests(start, MEMORY)
})

describeRedis('fastify example with REDIS_URL set', (redisUrl) => {
  exampleSmokeTests(start, { kind: 'redis', env: () => ({ REDIS_URL: redisUrl }) })
})

describeRedis('fastify example with UPSTASH_REDIS_REST_URL and _TOKEN set', (redisUrl) => {
  let upstash: UpstashServer
  beforeAll(async () => {
    upstash = await startUpstashServer({ redisUrl })
  })
  afterAll(() => upstash.stop())
  exampleSmokeTests(start, {
    kind: 'upstash',
    env: () => ({ UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: upstash.token }),
  })
})
