import { describeRedisServer, type RedisCluster, startRedisCluster } from '@floodgate/tools'
import { Cluster } from 'ioredis'
import { createCluster } from 'redis'
import { afterAll, beforeAll } from 'vitest'
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
})
