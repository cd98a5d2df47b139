import { findFreePort } from './free-port.js'
import { type RedisServer, startRedisServer } from './redis-server.js'
import { sendRespCommand } from './resp-command.js'

const HOST = '127.0.0.1'
const SLOT_COUNT = 16_384
const DEFAULT_READY_TIMEOUT_MS = 20_000

export interface StartRedisClusterOptions {
  /** Number of masters (no replicas); 3 by default. */
  masters?: number
  /** How long to wait for `cluster_state:ok` on every node; 20 s by default. */
  readyTimeoutMs?: number
}

/** A private Redis Cluster of masters on loopback, every slot assigned. */
export interface RedisCluster {
  /** Seed nodes for a cluster client, e.g. `new Cluster(cluster.nodes)`. */
  readonly nodes: { host: string; port: number }[]
  /**
   * The node servers, for fault tests. `restart()` on one brings it back empty but still a member
   * with its slots; follow it with `waitUntilOk()`.
   */
  readonly servers: RedisServer[]
  /** Resolves when every node reports cluster_state:ok again (bounded by readyTimeoutMs). */
  waitUntilOk(): Promise<void>
  /** Stops every node by PID. */
  stop(): Promise<void>
}

export async function startRedisCluster(options: StartRedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3
  if (!Number.isInteger(masters) || masters < 1) {
    throw new RangeError(`startRedisCluster: masters must be a positive integer, got ${masters}`)
  }
  const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS
  const servers: RedisServer[] = []
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()))
  }
  try {
    const started = await Promise.all(Array.from({ length: masters }, () => startClusterNode()))
    servers.push(...started.map(({ server }) => server))
    await assignSlots(started.map(({ server }) => server))
    await joinNodes(started)
    await waitUntilClusterOk(servers, masters, readyTimeoutMs)
  } catch (error) {
    await stop()
    throw error
  }
  return {
    nodes: servers.map(({ host, port }) => ({ host, port })),
    servers,
    waitUntilOk: () => waitUntilClusterOk(servers, masters, readyTimeoutMs),
    stop,
  }
}

interface ClusterNode {
  server: RedisServer
  busPort: number
}

/** The cluster bus gets its own free port (`cluster-port`, Redis 7) instead of port + 10000. */
async function startClusterNode(): Promise<ClusterNode> {
  for (let attempt = 1; ; attempt++) {
    const busPort = await findFreePort(HOST)
    try {
      const server = await startRedisServer({
        // biome-ignore format: one flag and its value per line
        args: [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', 'nodes.conf',
          '--cluster-node-timeout', '5000',
          '--cluster-port', String(busPort),
        ],
      })
      return { server, busPort }
    } catch (error) {
      if (attempt >= 5) throw error
    }
  }
}

async function assignSlots(servers: readonly RedisServer[]): Promise<void> {
  const perNode = Math.ceil(SLOT_COUNT / servers.length)
  await Promise.all(
    servers.map(async ({ port }, index) => {
      const first = index * perNode
      const last = Math.min(SLOT_COUNT, first + perNode) - 1
      // Distinct config epochs up front, as redis-cli --cluster create does, so no epoch collision
      // has to be resolved by gossip before the cluster settles.
      await command(port, ['CLUSTER', 'SET-CONFIG-EPOCH', String(index + 1)])
      await command(port, ['CLUSTER', 'ADDSLOTSRANGE', String(first), String(last)])
    }),
  )
}

async function joinNodes(nodes: readonly ClusterNode[]): Promise<void> {
  const [first, ...rest] = nodes
  if (!first) return
  for (const { server, busPort } of rest) {
    await command(first.server.port, ['CLUSTER', 'MEET', HOST, String(server.port), String(busPort)])
  }
}

async function waitUntilClusterOk(servers: readonly RedisServer[], masters: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs
  let lastInfo = ''
  while (Date.now() < deadline) {
    const infos = await Promise.all(
      servers.map((server) => sendRespCommand(HOST, server.port, ['CLUSTER', 'INFO'], 1_000).catch(String)),
    )
    const ready = infos.every(
      (info) =>
        typeof info === 'string' &&
        info.includes('cluster_state:ok') &&
        info.includes(`cluster_slots_assigned:${SLOT_COUNT}`) &&
        info.includes(`cluster_known_nodes:${masters}\r\n`),
    )
    if (ready) return
    lastInfo = String(infos.find((info) => typeof info !== 'string' || !info.includes('cluster_state:ok')))
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`Redis Cluster not ok after ${timeoutMs} ms; a node reports:\n${lastInfo}`)
}

async function command(port: number, args: string[]): Promise<void> {
  const reply = await sendRespCommand(HOST, port, args)
  if (reply instanceof Error) throw new Error(`${args.join(' ')} on port ${port}: ${reply.message}`)
}
