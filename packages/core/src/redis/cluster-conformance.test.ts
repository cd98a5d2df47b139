import { describeRedisServer, type RedisCluster, startRedisCluster } from '@floodgate/tools'
import { Cluster } from 'ioredis'
import { createCluster } from 'redis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import { runStoreConformance } from '../testing/index.js'
import { redisStore } from './redis-store.js'

describeRedisServer('redisStore conformance on a Redis Cluster', () => {
  let cluster: RedisCluster
  let ioredis: Cluster
  let nodeRedis: ReturnType<typeof createCluster>
  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 })
    ioredis = new Cluster(cluster.nodes, { enableOfflineQueue: false, retryDelayOnFailover: 0 })
    await new Promise((resolve) => ioredis.once('ready', resolve))
    // Open the lazy node connections: without an offline queue, a node still connecting fails commands.
    await Promise.all(ioredis.nodes('master').map((node) => node.ping()))
    nodeRedis = createCluster({
      rootNodes: cluster.nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })),
      defaults: { disableOfflineQueue: true },
    })
    await nodeRedis.connect()
  })
  afterAll(async () => {
    ioredis?.disconnect()
    await nodeRedis?.close()
    await cluster?.stop()
  })

  runStoreConformance({
    name: 'redis cluster (ioredis)',
    createStore: ({ clock }) => redisStore({ client: ioredis, clock }),
  })
  runStoreConformance({
    name: 'redis cluster (node-redis)',
    createStore: ({ clock }) => redisStore({ client: nodeRedis, clock }),
  })

  it('decides two-policy requests for identifiers full of braces on both clients, each in one slot', async () => {
    const ids = ['{a}', 'x{y}z', '}{', '{}', '{{a}}', 'user:{42}', '']
    for (const client of [ioredis, nodeRedis]) {
      const limiter = createRateLimiter({
        policies: [
          tokenBucket({ name: 'burst', capacity: 2, refillRate: 1, interval: '1 h' }),
          fixedWindow({ name: 'day', limit: 3, window: '1 d' }),
        ],
        store: redisStore({ client }),
        prefix: `braces-${client === ioredis ? 'io' : 'node'}-${Date.now()}`,
        logger: false,
      })
      for (const id of ids) {
        const reasons = []
        for (let i = 0; i < 3; i++) reasons.push((await limiter.limit(id)).reason)
        expect({ id, reasons }).toEqual({ id, reasons: ['allowed', 'allowed', 'limited'] })
      }
    }
  })

  it('sends each decision of a tick alone on a Cluster, so identifiers in different slots never share a call', async () => {
    for (const client of [ioredis, nodeRedis]) {
      const limiter = createRateLimiter({
        policies: fixedWindow({ limit: 1, window: '1 h' }),
        store: redisStore({ client }),
        prefix: `tick-${client === ioredis ? 'io' : 'node'}-${Date.now()}`,
        logger: false,
      })
      const ids = Array.from({ length: 40 }, (_, i) => `user-${i}`)
      const first = await Promise.all(ids.map((id) => limiter.limit(id)))
      expect(first.map((d) => d.reason)).toEqual(ids.map(() => 'allowed'))
      const again = await Promise.all(ids.map((id) => limiter.limit(id)))
      expect(again.map((d) => d.reason)).toEqual(ids.map(() => 'limited'))
    }
  })
})
