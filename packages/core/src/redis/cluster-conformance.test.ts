import { describeRedisServer, type RedisCluster, startRedisCluster } from '@floodgate/tools'
import { Cluster, Redis } from 'ioredis'
import { createCluster } from 'redis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import { runStoreConformance } from '../testing/index.js'
import { DECIDE_SCRIPT } from './decide-script.js'
import { cachedDigest, clusterSlot, counterKey } from './keys.js'
import { redisStore } from './redis-store.js'
import type { ServerClock } from './server-clock.js'

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
    sharedState: true,
    createStore: ({ clock }) => redisStore({ client: ioredis, clock }),
  })
  runStoreConformance({
    name: 'redis cluster (node-redis)',
    sharedState: true,
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
        // A clock that stands still (an hour boundary): 80 decisions sent alone across a Cluster,
        // and on Redis's clock an hour's end among them would admit a second request.
        store: redisStore({ client, clock: () => 500_000 * 3_600_000 }),
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

  it('computes the hash slot of a digest as Redis does', async () => {
    const tags = Array.from({ length: 200 }, (_, i) => cachedDigest(`slot-${i}`))
    const slots = await Promise.all(tags.map((tag) => ioredis.cluster('KEYSLOT', `x{${tag}}y`)))
    expect(tags.map(clusterSlot)).toEqual(slots)
  })

  it('counts nothing late when one node hangs, on slots not seen before too, each slot learning its own clock', async () => {
    const admin = new Redis(cluster.servers[0]!.url, { maxRetriesPerRequest: 0 })
    try {
      // Every node holds the script: a NOSCRIPT would leave late calls unsent for a reason of its own.
      await Promise.all(ioredis.nodes('master').map((node) => node.script('LOAD', DECIDE_SCRIPT)))
      // A day's window on the servers' clocks (their per-slot learning is under test): the counts
      // span a 2 s pause, and an hour's end in it would expire the keys with them.
      const policy = fixedWindow({ name: 'w', limit: 1_000_000, window: '1 d' })
      for (const client of [ioredis, nodeRedis]) {
        const prefix = `hang-${client === ioredis ? 'io' : 'node'}-${Date.now()}`
        const store = redisStore({ client, logger: false })
        const limiter = createRateLimiter({
          policies: policy,
          store,
          prefix,
          timeout: 250,
          onStoreError: 'deny',
          denyCache: false,
          logger: false,
        })
        // One slot's reply gives the first estimate for every slot not seen yet.
        expect((await limiter.limit('first')).reason).toBe('allowed')

        // One master hangs for 2 s; the calls for its slots are answered as failures at 250 ms.
        const ids = Array.from({ length: 30 }, (_, i) => `user-${i}`)
        await admin.call('CLIENT', 'PAUSE', '2000', 'ALL')
        const during = await Promise.all(ids.map((id) => limiter.limit(id)))
        const failed = during.filter((d) => d.reason === 'store-error').length
        expect(failed).toBeGreaterThan(0)
        expect(during.filter((d) => d.reason === 'allowed')).toHaveLength(ids.length - failed)
        // Answered once the pause is over, after the commands paused before it have run.
        await admin.ping()
        const counted = await Promise.all(
          ids.map(async (id) => {
            const values = await ioredis.hvals(counterKey(prefix, id, policy))
            return values.reduce((sum, v) => sum + Number(v), 0)
          }),
        )
        expect(counted).toEqual(during.map((d) => (d.reason === 'allowed' ? 1 : 0)))
        const clocks = (store as unknown as { slotClocks: Map<number, ServerClock> }).slotClocks
        const slots = new Set(['first', ...ids].map((id) => clusterSlot(cachedDigest(id))))
        expect(clocks.size).toBe(slots.size)
        await limiter.close()
      }
    } finally {
      admin.disconnect()
    }
  }, 30_000)
})
