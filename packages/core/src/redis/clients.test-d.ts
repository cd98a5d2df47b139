// Type test (checked by tsc): every supported client fits the store options as created, no casts.
import { Ratelimit } from '@upstash/ratelimit'
import { Redis as UpstashRedis } from '@upstash/redis'
import { Cluster, Redis } from 'ioredis'
import { createClient, createCluster } from 'redis'
import type { RateLimiter } from '../limiter.js'
import type { RateLimitStore } from '../store.js'
import { fromUpstash, upstashStore } from '../upstash/index.js'
import { redisStore } from './index.js'

const upstash = new UpstashRedis({ url: 'http://127.0.0.1:1', token: 't', retry: { retries: 0 } })
export const stores: RateLimitStore[] = [
  redisStore({ client: new Redis({ lazyConnect: true }) }),
  redisStore({ client: new Cluster([], { lazyConnect: true }) }),
  redisStore({ client: createClient() }),
  redisStore({ client: createCluster({ rootNodes: [] }) }),
  upstashStore({ redis: upstash }),
]
export const limiter: RateLimiter = fromUpstash(
  new Ratelimit({ redis: upstash, limiter: Ratelimit.fixedWindow(1, '1 s') }),
  { window: '1 s' },
)
