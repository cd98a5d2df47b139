import { Cluster } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { isProcessAlive } from './guarded-process.js'
import { type RedisCluster, startRedisCluster } from './redis-cluster.js'
import { sendRespCommand } from './resp-command.js'
import { describeRedisServer } from './vitest-redis.js'

describeRedisServer('startRedisCluster', () => {
  let cluster: RedisCluster
  beforeAll(async () => {
    cluster = await startRedisCluster()
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  it('starts three masters that all report cluster_state:ok with every slot assigned', async () => {
    expect(cluster.nodes).toHaveLength(3)
    for (const { host, port } of cluster.nodes) {
      const info = await sendRespCommand(host, port, ['CLUSTER', 'INFO'])
      expect(info).toContain('cluster_state:ok')
      expect(info).toContain('cluster_slots_assigned:16384')
      expect(info).toContain('cluster_known_nodes:3')
    }
  })

  it('serves through a cluster client a key written through a single node', async () => {
    // Find the node owning the key's slot and write there directly, bypassing the cluster client.
    const key = 'floodgate-tools:{cluster-test}:value'
    const [first] = cluster.nodes
    const slot = await sendRespCommand(first!.host, first!.port, ['CLUSTER', 'KEYSLOT', key])
    const owner = await findSlotOwner(cluster, slot as number)
    expect(await sendRespCommand(owner.host, owner.port, ['SET', key, 'written-directly'])).toBe('OK')

    const client = new Cluster(cluster.nodes)
    try {
      expect(await client.get(key)).toBe('written-directly')
      // And keys spread over every master still round-trip.
      const keys = Array.from({ length: 30 }, (_, i) => `floodgate-tools:spread:${i}`)
      await Promise.all(keys.map((k) => client.set(k, k)))
      expect(await Promise.all(keys.map((k) => client.get(k)))).toEqual(keys)
    } finally {
      client.disconnect()
    }
  })
})

describeRedisServer('restarting a cluster node', () => {
  it('brings the node back empty, still owning its slots', async () => {
    const cluster = await startRedisCluster()
    const client = new Cluster(cluster.nodes, { clusterRetryStrategy: () => 100 })
    try {
      const key = 'floodgate-tools:restart'
      await client.set(key, 'before')
      const slot = await client.cluster('KEYSLOT', key)
      const owner = await findSlotOwner(cluster, slot)
      const server = cluster.servers.find((s) => s.port === owner.port)!
      await server.restart()
      await cluster.waitUntilOk()
      expect(await findSlotOwner(cluster, slot)).toEqual(owner)
      expect(await sendRespCommand(owner.host, owner.port, ['GET', key])).toBeNull()
      expect(await sendRespCommand(owner.host, owner.port, ['SET', key, 'after'])).toBe('OK')
    } finally {
      client.disconnect()
      await cluster.stop()
    }
  })
})

describeRedisServer('stopping a cluster', () => {
  it('ends every node process', async () => {
    const cluster = await startRedisCluster({ masters: 1 })
    const pids = cluster.servers.map((server) => server.pid)
    expect(pids.every(isProcessAlive)).toBe(true)
    await cluster.stop()
    expect(pids.some(isProcessAlive)).toBe(false)
  })
})

async function findSlotOwner(cluster: RedisCluster, slot: number) {
  const [first] = cluster.nodes
  const ranges = (await sendRespCommand(first!.host, first!.port, ['CLUSTER', 'SLOTS'])) as [
    number,
    number,
    [string, number, string],
  ][]
  const range = ranges.find(([from, to]) => slot >= from && slot <= to)
  if (!range) throw new Error(`no node owns slot ${slot}`)
  return { host: range[2][0], port: range[2][1] }
}
