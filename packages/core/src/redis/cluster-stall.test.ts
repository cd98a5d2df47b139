import {
  describeRedisServer,
  expectNoUnhandledRejections,
  type RedisCluster,
  sendRespCommand,
  startRedisCluster,
} from '@floodgate/tools'
import { Cluster } from 'ioredis'
import { createCluster } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Decision } from '../decision.js'
import { createRateLimiter, type RateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import type { RateLimitStore } from '../store.js'
import { cachedDigest, clusterSlot } from './keys.js'
import { redisStore } from './redis-store.js'
import { STALL_MS } from './script-store.js'

// One node of a Cluster hangs (its process stopped: TCP open, nothing coming back), with the clients
// set up as docs/stores.md says. The store takes a connection for silent after STALL_MS and sends
// it nothing more; on a Cluster each node has its own connection, so the calls that go to the
// other nodes must go on being decided (they used to be refused too: one silence per store), and
// every call to the silent node refused, whichever of its hash slots it goes to.

type Library = 'ioredis' | 'node-redis'

describeRedisServer('one silent node of a Redis Cluster', () => {
  expectNoUnhandledRejections()
  let cluster: RedisCluster
  /** The port of the node that serves each hash slot. */
  const portOfSlot = new Map<number, number>()

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 })
    const { host, port } = cluster.nodes[0]!
    const slots = (await sendRespCommand(host, port, ['CLUSTER', 'SLOTS'])) as [
      number,
      number,
      [string, number],
    ][]
    for (const [from, to, [, nodePort]] of slots) for (let s = from; s <= to; s++) portOfSlot.set(s, nodePort)
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  /** Identifiers whose keys live on the node at `port`, and on another node. */
  function identifiers(port: number): { silent: string[]; healthy: string[] } {
    const silent: string[] = []
    const healthy: string[] = []
    for (let i = 0; silent.length < 3 || healthy.length < 3; i++) {
      const id = `user:${i}`
      const onSilent = portOfSlot.get(clusterSlot(cachedDigest(id))) === port
      const list = onSilent ? silent : healthy
      if (list.length < 3) list.push(id)
    }
    return { silent, healthy }
  }

  async function client(library: Library): Promise<{ store: RateLimitStore; close(): Promise<void> }> {
    if (library === 'ioredis') {
      const c = new Cluster(cluster.nodes, { enableOfflineQueue: false, retryDelayOnFailover: 0 })
      c.on('error', () => undefined)
      await new Promise((resolve) => c.once('ready', resolve))
      await Promise.all(c.nodes('master').map((node) => node.ping()))
      return { store: redisStore({ client: c }), close: async () => c.disconnect() }
    }
    const c = createCluster({
      rootNodes: cluster.nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })),
      defaults: { disableOfflineQueue: true },
    })
    c.on('error', () => undefined)
    await c.connect()
    return { store: redisStore({ client: c }), close: async () => void c.destroy() }
  }

  describe.each<Library>(['ioredis', 'node-redis'])('%s', (library) => {
    it('keeps deciding the calls that go to the other nodes', async () => {
      const server = cluster.servers[1]!
      const { silent, healthy } = identifiers(server.port)
      const { store, close } = await client(library)
      const limiter: RateLimiter = createRateLimiter({
        policies: fixedWindow({ limit: 1_000, window: '1 m' }),
        store,
        prefix: `stall-${library}`,
        logger: false,
      })
      try {
        for (const id of [...silent, ...healthy]) expect((await limiter.limit(id)).reason).toBe('allowed')
        process.kill(server.pid, 'SIGSTOP')
        try {
          // Calls to the stopped node time out; once its commands have waited STALL_MS, it is
          // taken for silent and its calls are refused at once (bounded: 4 × STALL_MS).
          let refused: Decision | undefined
          const giveUpAt = performance.now() + 4 * STALL_MS
          while (refused === undefined && performance.now() < giveUpAt) {
            const decision = await limiter.limit(silent[0]!)
            expect(decision.reason).toBe('store-error')
            if (/answered none/.test(decision.error?.message ?? '')) refused = decision
          }
          expect(refused?.error?.message).toMatch(/node of this identifier's hash slot has answered none/)
          // Every call to that node is refused now, whatever its slot: nothing more piles up there.
          const sameNode = await Promise.all(silent.slice(1).map((id) => limiter.limit(id)))
          expect(sameNode.map((d) => /answered none/.test(d.error?.message ?? ''))).toEqual([true, true])
          // The other nodes answer as before.
          const others = await Promise.all(healthy.map((id) => limiter.limit(id)))
          expect(others.map((d) => d.reason)).toEqual(healthy.map(() => 'allowed'))
        } finally {
          process.kill(server.pid, 'SIGCONT')
        }
      } finally {
        await limiter.close()
        await close()
      }
    })
  })
})
