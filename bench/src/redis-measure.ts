// Measurement helpers of the Redis section: a pool of concurrent loops, client CPU, Redis command
// counts from INFO commandstats, and redis-benchmark as the server's ceiling.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { Redis } from 'ioredis'

/** Calls in flight at once: 64 loops, each awaiting its own call before starting the next. */
export const IN_FLIGHT = 64

/** One call of a contender's own API (its returned promise, no wrapper of ours) and a check of its answer. */
export interface RedisContender {
  name: string
  call(key: string): Promise<unknown>
  check?(answer: unknown): void
}

export interface PoolSample {
  decisions: number
  elapsedMs: number
  /** User + system CPU of this process during the run, in µs. */
  cpuMicros: number
}

/** A round-robin cursor over identifiers, shared by the loops of one pool. */
export function cycle(keys: readonly string[]): () => string {
  let next = 0
  return () => {
    const key = keys[next]!
    next = next + 1 === keys.length ? 0 : next + 1
    return key
  }
}

/**
 * IN_FLIGHT loops call the contender until `durationMs` has passed (or `count` calls started),
 * so IN_FLIGHT calls are in flight at every moment, as in a busy server.
 */
export async function runPool(
  contender: RedisContender,
  key: () => string,
  limit: { durationMs: number } | { count: number },
): Promise<PoolSample> {
  const { call, check } = contender
  const endAt = 'durationMs' in limit ? performance.now() + limit.durationMs : Number.POSITIVE_INFINITY
  const maxCount = 'count' in limit ? limit.count : Number.POSITIVE_INFINITY
  let started = 0
  const loop = async () => {
    while (started < maxCount && performance.now() < endAt) {
      started++
      const answer = await call(key())
      if (check !== undefined) check(answer)
    }
  }
  const cpu = process.cpuUsage()
  const start = performance.now()
  await Promise.all(Array.from({ length: IN_FLIGHT }, loop))
  const elapsedMs = performance.now() - start
  const used = process.cpuUsage(cpu)
  return { decisions: started, elapsedMs, cpuMicros: used.user + used.system }
}

/** Calls per command name from `INFO commandstats` (e.g. `{ evalsha: 1000 }`). */
export async function commandStats(admin: Redis): Promise<Map<string, number>> {
  const info = await admin.info('commandstats')
  const stats = new Map<string, number>()
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats.set(match[1]!, Number(match[2]))
  return stats
}

export interface CommandDelta {
  /** Commands per operation over every command but INFO and ECHO (the measurement's own), those a script ran included. */
  perOperation: number
  total: number
  /** The same, per command name, largest first: `evalsha 1.00, hmget 1.00`. */
  breakdown: string
  /** Commands clients sent (round trips), from MONITOR: what ran inside a script is not one. */
  sentPerOperation: number
  sentBreakdown: string
  sentTotal: number
}

/** Per-name calls after minus before, largest first, as a total and an `evalsha 1.00, …` text. */
function delta(before: Map<string, number>, after: Map<string, number>, operations: number) {
  const deltas: [string, number][] = []
  for (const [name, calls] of after) {
    const d = calls - (before.get(name) ?? 0)
    if (name !== 'info' && name !== 'echo' && d > 0) deltas.push([name, d])
  }
  deltas.sort((a, b) => b[1] - a[1])
  const total = deltas.reduce((sum, [, d]) => sum + d, 0)
  const breakdown = deltas.map(([name, d]) => `${name} ${(d / operations).toFixed(2)}`).join(', ') || 'none'
  return { total, breakdown }
}

/**
 * Runs `work` and counts the Redis commands it caused, per operation: every command from INFO
 * commandstats (which counts what scripts run), and the commands clients sent from MONITOR.
 */
export async function countCommands(
  admin: Redis,
  operations: number,
  work: () => Promise<unknown>,
): Promise<CommandDelta> {
  const monitor = await admin.monitor()
  const sent = new Map<string, number>()
  const sentinel = `floodgate-bench-${process.pid}-${performance.now()}`
  const caughtUp = new Promise<void>((resolve) => {
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      const name = (args[0] ?? '').toLowerCase()
      if (name === 'echo' && args[1] === sentinel) resolve()
      // MONITOR shows what a script runs with the source "lua".
      if (source !== 'lua') sent.set(name, (sent.get(name) ?? 0) + 1)
    })
  })
  try {
    const before = await commandStats(admin)
    await work()
    const after = await commandStats(admin)
    await admin.echo(sentinel)
    await caughtUp
    const all = delta(before, after, operations)
    const top = delta(new Map(), sent, operations)
    return {
      perOperation: all.total / operations,
      total: all.total,
      breakdown: all.breakdown,
      sentPerOperation: top.total / operations,
      sentBreakdown: top.breakdown,
      sentTotal: top.total,
    }
  } finally {
    monitor.disconnect()
  }
}

/** redis-server's CPU (user + system, all its threads) so far, in µs, from INFO cpu. */
export async function serverCpuMicros(admin: Redis): Promise<number> {
  const info = await admin.info('cpu')
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN)
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6
}

const run = promisify(execFile)

/**
 * redis-benchmark's EVALSHA throughput of the trivial script: the server's ceiling with a C client
 * that costs next to nothing. 64 connections one request each, or one connection pipelining 64
 * (the shape of a node client's 64 calls in flight, which share one socket).
 */
export async function redisBenchmark(
  port: number,
  sha1: string,
  requests: number,
  keyCount: number,
  shape: { connections: number; pipeline: number },
): Promise<number> {
  const args = [
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-n',
    String(requests),
    '-c',
    String(shape.connections),
  ]
  args.push('-P', String(shape.pipeline))
  args.push('-r', String(keyCount), '--csv', 'EVALSHA', sha1, '1', 'bench:rb:__rand_int__', '60000')
  const { stdout } = await run('redis-benchmark', args, { timeout: 60_000 })
  // --csv: a header line, then "EVALSHA ...","<rps>",...
  const line = stdout.trim().split('\n').at(-1) ?? ''
  const rps = Number(line.split(',')[1]?.replaceAll('"', ''))
  if (!Number.isFinite(rps) || rps <= 0) throw new Error(`cannot read redis-benchmark output: ${stdout}`)
  return rps
}
