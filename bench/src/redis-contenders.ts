// The Redis section's setup: a private redis-server, one client per library (set up as
// docs/stores.md says), the Upstash REST server in a child process, and every contender.
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createRateLimiter, type Decision, fixedWindow, type Policy, tokenBucket } from '@floodgate/core'
import { redisStore } from '@floodgate/core/redis'
import { upstashStore } from '@floodgate/core/upstash'
import { type RedisServer, startRedisServer } from '@floodgate/tools'
import { Redis as UpstashRedis } from '@upstash/redis'
import { Redis } from 'ioredis'
import { RedisStore } from 'rate-limit-redis'
import { RateLimiterRedis } from 'rate-limiter-flexible'
import { createClient } from 'redis'
import type { RedisContender } from './redis-measure.js'

/** Never reached in a measurement (see decisions.ts), so every contender takes the admit path. */
const NEVER_REACHED = 2_000_000_000
const WINDOW_MS = 60_000
/** The bare ceiling through a client: INCR and PEXPIRE of one key, nothing decided. */
export const TRIVIAL_SCRIPT =
  "local n = redis.call('INCR', KEYS[1]) redis.call('PEXPIRE', KEYS[1], ARGV[1]) return n"

const nodeRedisClient = (url: string) => createClient({ url, disableOfflineQueue: true })
export type NodeRedis = ReturnType<typeof nodeRedisClient>

export interface Rig {
  server: RedisServer
  ioredis: Redis
  nodeRedis: NodeRedis
  /** A connection of its own for INFO and SCRIPT LOAD, never one under measurement. */
  admin: Redis
  upstash: UpstashRedis
  /** The Upstash server's HTTP requests and forwarded commands so far. */
  upstashStats(): Promise<{ requests: number; commands: number }>
  trivialSha1: string
  close(): Promise<void>
}

export async function startRig(): Promise<Rig> {
  const server = await startRedisServer()
  const opened: { close(): unknown }[] = []
  try {
    const ioredisOptions = {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
    }
    const ioredis = new Redis(server.url, ioredisOptions)
    opened.push({ close: () => ioredis.disconnect() })
    const admin = new Redis(server.url, ioredisOptions)
    opened.push({ close: () => admin.disconnect() })
    await Promise.all([ready(ioredis), ready(admin)])
    const nodeRedis = nodeRedisClient(server.url)
    nodeRedis.on('error', () => {})
    await nodeRedis.connect()
    opened.push({ close: () => nodeRedis.destroy() })
    const child = fork(fileURLToPath(new URL('./redis-upstash-child.ts', import.meta.url)), [server.url], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    opened.push({ close: () => child.send({ type: 'stop' }) })
    const { url, token } = (await nextMessage(child, 'ready')) as { url: string; token: string }
    const upstash = new UpstashRedis({ url, token, retry: { retries: 0 }, enableTelemetry: false })
    const trivialSha1 = (await admin.script('LOAD', TRIVIAL_SCRIPT)) as string
    return {
      server,
      ioredis,
      nodeRedis,
      admin,
      upstash,
      trivialSha1,
      async upstashStats() {
        child.send({ type: 'stats' })
        return (await nextMessage(child, 'stats')) as { requests: number; commands: number }
      },
      async close() {
        for (const o of opened.reverse()) o.close()
        await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(0)))
        await server.stop()
      },
    }
  } catch (error) {
    for (const o of opened.reverse()) o.close()
    await server.stop()
    throw error
  }
}

function ready(client: Redis): Promise<void> {
  return client.status === 'ready'
    ? Promise.resolve()
    : new Promise((resolve) => client.once('ready', resolve))
}

function nextMessage(child: ChildProcess, type: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${type}' from the Upstash server child`)), 20_000)
    const onMessage = (message: { type: string }) => {
      if (message.type !== type) return
      clearTimeout(timer)
      child.off('message', onMessage)
      resolve(message)
    }
    child.on('message', onMessage)
  })
}

export const FG_IOREDIS = 'floodgate redisStore, ioredis'
export const FG_NODE_REDIS = 'floodgate redisStore, node-redis'
export const FG_UPSTASH = 'floodgate upstashStore, @upstash/redis'
export const FG_TWO_POLICIES = 'floodgate 2 policies, ioredis'
export const RLF_IOREDIS = 'rate-limiter-flexible, ioredis'
export const RLF_NODE_REDIS = 'rate-limiter-flexible, node-redis'
export const ERL_IOREDIS = 'express-rate-limit + rate-limit-redis, ioredis'
export const BARE_IOREDIS = 'bare trivial EVALSHA, ioredis'
export const BARE_NODE_REDIS = 'bare trivial EVALSHA, node-redis'

export type Library = 'ioredis' | 'node-redis' | '@upstash/redis'
/** The client library each contender goes through, for the same-client ratios. */
export const LIBRARY_OF: Record<string, Library> = {
  [FG_IOREDIS]: 'ioredis',
  [FG_NODE_REDIS]: 'node-redis',
  [FG_UPSTASH]: '@upstash/redis',
  [FG_TWO_POLICIES]: 'ioredis',
  [RLF_IOREDIS]: 'ioredis',
  [RLF_NODE_REDIS]: 'node-redis',
  [ERL_IOREDIS]: 'ioredis',
  [BARE_IOREDIS]: 'ioredis',
  [BARE_NODE_REDIS]: 'node-redis',
}
export const RLF_ON: Partial<Record<Library, string>> = { ioredis: RLF_IOREDIS, 'node-redis': RLF_NODE_REDIS }
export const BARE_ON: Partial<Record<Library, string>> = {
  ioredis: BARE_IOREDIS,
  'node-redis': BARE_NODE_REDIS,
}
export const PEERS = [RLF_IOREDIS, RLF_NODE_REDIS, ERL_IOREDIS]

const fixed = (): Policy => fixedWindow({ name: 'fixed', limit: NEVER_REACHED, window: WINDOW_MS })
const bucket = (): Policy =>
  tokenBucket({ name: 'bucket', capacity: NEVER_REACHED, refillRate: NEVER_REACHED, interval: WINDOW_MS })

/** Floodgate calls answered by `onStoreError` instead of Redis, per contender. */
export const storeErrors = new Map<string, number>()

/** `prefix` apart per contender: sharing one, two contenders on one Redis shared counters. */
function floodgate(
  name: string,
  store: Parameters<typeof createRateLimiter>[0]['store'],
  policies: Policy[],
  prefix: string,
) {
  const limiter = createRateLimiter({ policies, store, prefix })
  return {
    name,
    call: (key: string) => limiter.limit(key),
    check: (d: unknown) => {
      const decision = d as Decision
      // A store error (the 250 ms deadline on a loaded machine) is allowed by default: count it,
      // since it is no decision and would flatter the rate.
      if (decision.reason === 'store-error') storeErrors.set(name, (storeErrors.get(name) ?? 0) + 1)
      else if (!decision.allowed)
        throw new Error(`${name} answered ${decision.reason}: the benchmark must only admit`)
    },
  }
}

export function contenders(rig: Rig): RedisContender[] {
  const { ioredis, nodeRedis, trivialSha1 } = rig
  const rlf = (client: unknown, prefix: string) =>
    new RateLimiterRedis({
      storeClient: client,
      points: NEVER_REACHED,
      duration: WINDOW_MS / 1000,
      keyPrefix: prefix,
    })
  const rlfIoredis = rlf(ioredis, 'rlf-io')
  const rlfNodeRedis = new RateLimiterRedis({
    storeClient: nodeRedis,
    useRedisPackage: true,
    points: NEVER_REACHED,
    duration: WINDOW_MS / 1000,
    keyPrefix: 'rlf-nr',
  })
  const erl = new RedisStore({
    sendCommand: (command: string, ...args: string[]) => ioredis.call(command, ...args) as Promise<number>,
    prefix: 'erl:',
  })
  erl.init({ windowMs: WINDOW_MS } as Parameters<RedisStore['init']>[0])
  const ttl = String(WINDOW_MS)
  return [
    floodgate(FG_IOREDIS, redisStore({ client: ioredis }), [fixed()], 'fg-io'),
    floodgate(FG_NODE_REDIS, redisStore({ client: nodeRedis }), [fixed()], 'fg-nr'),
    floodgate(FG_UPSTASH, upstashStore({ redis: rig.upstash }), [fixed()], 'fg-up'),
    floodgate(FG_TWO_POLICIES, redisStore({ client: ioredis }), [bucket(), fixed()], 'fg-2p'),
    // rate-limiter-flexible rejects a denied consume, so an awaited call checks itself.
    { name: RLF_IOREDIS, call: (key) => rlfIoredis.consume(key) },
    { name: RLF_NODE_REDIS, call: (key) => rlfNodeRedis.consume(key) },
    { name: ERL_IOREDIS, call: (key) => erl.increment(key) },
    { name: BARE_IOREDIS, call: (key) => ioredis.evalsha(trivialSha1, 1, `bench:io:${key}`, ttl) },
    {
      name: BARE_NODE_REDIS,
      call: (key) => nodeRedis.evalSha(trivialSha1, { keys: [`bench:nr:${key}`], arguments: [ttl] }),
    },
  ]
}
