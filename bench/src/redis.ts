// Decisions per second against a private redis-server with 64 calls in flight: Floodgate's Redis
// and Upstash stores beside rate-limiter-flexible and express-rate-limit + rate-limit-redis, the
// same trivial script through each client and through redis-benchmark as ceilings; Redis commands
// (and HTTP requests) per decision; client CPU per decision; the deny-cache flood.
import { collectGarbage, formatInt, formatRatio, median, table } from './harness.js'
import {
  BARE_ON,
  contenders,
  FG_IOREDIS,
  FG_NODE_REDIS,
  FG_TWO_POLICIES,
  FG_UPSTASH,
  LIBRARY_OF,
  PEERS,
  type Rig,
  RLF_ON,
  startRig,
  storeErrors,
} from './redis-contenders.js'
import { denyCacheFlood, type FloodResult } from './redis-flood.js'
import {
  type CommandDelta,
  countCommands,
  cycle,
  IN_FLIGHT,
  type RedisContender,
  redisBenchmark,
  runPool,
  serverCpuMicros,
} from './redis-measure.js'
import type { Section } from './section.js'

const ROUNDS = 7
const ROUND_MS = 1_200
const WARM_UP_MS = 600
const KEY_COUNT = 10_000
/** Decisions per contender for the command counts. */
const COUNTED_DECISIONS = 2_000
/** The two shapes redis-benchmark runs: 64 connections, and one connection pipelining 64. */
const REDIS_BENCHMARKS = [
  { name: 'redis-benchmark EVALSHA, -c 64', shape: { connections: IN_FLIGHT, pipeline: 1 } },
  { name: 'redis-benchmark EVALSHA, -c 1 -P 64', shape: { connections: 1, pipeline: IN_FLIGHT } },
]

interface Result {
  name: string
  opsPerSecond: number
  /** Medians over the rounds of this process's CPU per decision (NaN for redis-benchmark) and redis-server's. */
  cpuMicrosPerDecision: number
  serverCpuMicrosPerDecision: number
  commands?: CommandDelta
  httpPerDecision?: number
}

/** One timed round of slot i: a contender of ours, or a redis-benchmark shape after them. */
type Round = { decisions: number; elapsedMs: number; cpuMicros: number }

async function measureThroughput(rig: Rig, all: readonly RedisContender[]): Promise<Result[]> {
  const keys = Array.from({ length: KEY_COUNT }, (_, i) => `user:${i}`)
  const cursors = all.map(() => cycle(keys))
  for (let i = 0; i < all.length; i++) await runPool(all[i]!, cursors[i]!, { durationMs: WARM_UP_MS })
  // redis-benchmark's request counts, sized to a round from a first run of each shape.
  const rbRequests: number[] = []
  for (const { shape } of REDIS_BENCHMARKS) {
    const rate = await redisBenchmark(rig.server.port, rig.trivialSha1, 50_000, KEY_COUNT, shape)
    rbRequests.push(Math.round((rate * ROUND_MS) / 1000))
  }
  const runSlot = async (i: number): Promise<Round> => {
    if (i < all.length) return runPool(all[i]!, cursors[i]!, { durationMs: ROUND_MS })
    const b = i - all.length
    const { shape } = REDIS_BENCHMARKS[b]!
    const rate = await redisBenchmark(rig.server.port, rig.trivialSha1, rbRequests[b]!, KEY_COUNT, shape)
    // Its own rate, connection set-up excluded.
    return { decisions: rbRequests[b]!, elapsedMs: (rbRequests[b]! * 1000) / rate, cpuMicros: Number.NaN }
  }
  const slots = all.length + REDIS_BENCHMARKS.length
  const rates: number[][] = Array.from({ length: slots }, () => [])
  const cpu: number[][] = Array.from({ length: slots }, () => [])
  const serverCpu: number[][] = Array.from({ length: slots }, () => [])
  for (let r = 0; r < ROUNDS; r++) {
    for (let j = 0; j < slots; j++) {
      const i = (j + r) % slots
      collectGarbage()
      const serverBefore = await serverCpuMicros(rig.admin)
      const round = await runSlot(i)
      const serverUsed = (await serverCpuMicros(rig.admin)) - serverBefore
      rates[i]!.push((round.decisions * 1000) / round.elapsedMs)
      cpu[i]!.push(round.cpuMicros / round.decisions)
      serverCpu[i]!.push(serverUsed / round.decisions)
    }
  }
  const names = [...all.map((c) => c.name), ...REDIS_BENCHMARKS.map((b) => b.name)]
  return names.map((name, i) => ({
    name,
    opsPerSecond: median(rates[i]!),
    cpuMicrosPerDecision: median(cpu[i]!),
    serverCpuMicrosPerDecision: median(serverCpu[i]!),
  }))
}

async function countRoundTrips(rig: Rig, all: readonly RedisContender[], results: Result[]): Promise<void> {
  const keys = Array.from({ length: KEY_COUNT }, (_, i) => `count:${i}`)
  for (const contender of all) {
    const result = results.find((r) => r.name === contender.name)!
    const http = await rig.upstashStats()
    result.commands = await countCommands(rig.admin, COUNTED_DECISIONS, () =>
      runPool(contender, cycle(keys), { count: COUNTED_DECISIONS }),
    )
    if (contender.name === FG_UPSTASH) {
      result.httpPerDecision = ((await rig.upstashStats()).requests - http.requests) / COUNTED_DECISIONS
    }
  }
}

const byName = (results: readonly Result[], name: string | undefined) => results.find((r) => r.name === name)
const ratio = (a: Result, b: Result | undefined) =>
  b === undefined ? '—' : formatRatio(a.opsPerSecond / b.opsPerSecond)
const fmtCpu = (us: number) => (Number.isNaN(us) ? '—' : us.toFixed(1))

function report(results: readonly Result[]): void {
  const rows = results.map((r) => {
    const library = LIBRARY_OF[r.name]
    return [
      r.name,
      formatInt(r.opsPerSecond),
      library === undefined ? '—' : ratio(r, byName(results, RLF_ON[library])),
      library === undefined ? '—' : ratio(r, byName(results, BARE_ON[library])),
      fmtCpu(r.cpuMicrosPerDecision),
      fmtCpu(r.serverCpuMicrosPerDecision),
      r.commands === undefined
        ? '—'
        : `${r.commands.sentPerOperation.toFixed(2)} (${r.commands.sentBreakdown})`,
      r.commands === undefined ? '—' : `${r.commands.perOperation.toFixed(2)} (${r.commands.breakdown})`,
      r.httpPerDecision === undefined ? '—' : r.httpPerDecision.toFixed(2),
    ]
  })
  const headers = [
    'contender',
    'decisions/s',
    '÷ rlf same client',
    '÷ bare same client',
    'client CPU µs',
    'redis CPU µs',
  ]
  const counts = ['commands sent', 'all commands (in scripts too)', 'HTTP requests']
  console.log(table([...headers, ...counts], rows))
  console.log('')
}

function targets(results: readonly Result[], floods: readonly FloodResult[]): void {
  const checks: [string, string, boolean][] = []
  // Decisions started in the same tick share one EVALSHA (the Redis store batches them), so a
  // decision costs at most one: nothing but EVALSHA sent, and no more of them than decisions.
  const oneRoundTrip = (name: string) => {
    const c = byName(results, name)!.commands!
    return c.sentTotal > 0 && c.sentTotal <= COUNTED_DECISIONS && /^evalsha [0-9.]+$/.test(c.sentBreakdown)
  }
  for (const name of [FG_IOREDIS, FG_NODE_REDIS, FG_TWO_POLICIES, FG_UPSTASH]) {
    const c = byName(results, name)!.commands!
    checks.push([
      `${name}: at most one EVALSHA per decision`,
      `${c.sentPerOperation.toFixed(2)} (${c.sentBreakdown})`,
      oneRoundTrip(name),
    ])
  }
  const http = byName(results, FG_UPSTASH)!.httpPerDecision!
  checks.push([`${FG_UPSTASH}: ≤ 1 HTTP request per decision`, http.toFixed(2), http <= 1])
  const bestPeerCpu = Math.min(...PEERS.map((p) => byName(results, p)!.cpuMicrosPerDecision))
  for (const name of [FG_IOREDIS, FG_NODE_REDIS]) {
    const r = byName(results, name)!
    const library = LIBRARY_OF[name]!
    const peer = r.opsPerSecond / byName(results, RLF_ON[library])!.opsPerSecond
    const bare = r.opsPerSecond / byName(results, BARE_ON[library])!.opsPerSecond
    checks.push([`${name}: ≥ 1.2× rate-limiter-flexible on ${library}`, formatRatio(peer), peer >= 1.2])
    checks.push([
      `${name}: ≥ 80 % of the bare trivial EVALSHA on ${library}`,
      `${(bare * 100).toFixed(0)} %`,
      bare >= 0.8,
    ])
    const cpu = r.cpuMicrosPerDecision
    checks.push([
      `${name}: client CPU ≤ the best peer's (${fmtCpu(bestPeerCpu)} µs)`,
      `${fmtCpu(cpu)} µs`,
      cpu <= bestPeerCpu,
    ])
  }
  const cached = floods.find((f) => f.variant.startsWith('deny cache on'))!
  checks.push([
    'deny cache: 0 Redis commands per request after the first denial',
    cached.floodCommandsPerRequest.toFixed(4),
    cached.floodCommandsPerRequest === 0 && cached.waitSentPerRequest === 0,
  ])
  checks.push([
    'deny cache: admitted after waiting exactly its Retry-After',
    String(cached.afterRetryAllowed),
    cached.afterRetryAllowed,
  ])
  console.log('Targets:\n')
  for (const [what, value, met] of checks) console.log(`- ${what}: ${value} ${met ? 'met' : 'MISSED'}`)
  console.log('')
}

function reportFloods(floods: readonly FloodResult[]): void {
  const rows = floods.map((f) => [
    f.variant,
    `${formatInt(f.floodDenied)} denied`,
    f.floodSentPerRequest.toFixed(4),
    f.floodCommandsPerRequest.toFixed(4),
    `${formatInt(f.waitRequests)} → ${f.waitSentPerRequest.toFixed(4)}`,
    `${f.retryAfterMs} ms`,
    `${f.afterRetryAllowed ? 'admitted' : 'DENIED'}, ${f.afterRetrySent} sent`,
  ])
  const headers = [
    'limiter',
    'flood after 1st denial',
    'sent/request',
    'all commands/request',
    'until Retry-After: requests → sent/request',
  ]
  console.log(table([...headers, 'Retry-After', 'request at exactly Retry-After'], rows))
  console.log('')
}

export const redisSection: Section = {
  name: 'redis',
  description: `decisions/s with ${IN_FLIGHT} in flight on a private redis-server, commands and CPU per decision, deny-cache flood`,
  async run() {
    const rig = await startRig()
    try {
      console.log(
        `Private redis-server on port ${rig.server.port}; ${IN_FLIGHT} loops in flight; ${KEY_COUNT.toLocaleString('en-US')} identifiers ` +
          `round-robin; ${ROUNDS} alternating rounds of ~${ROUND_MS} ms per contender; medians. Limits never reached.\n` +
          'Per decision: client CPU = this process (user + system) ÷ decisions; redis CPU = INFO cpu delta ÷ decisions; ' +
          'commands sent = MONITOR, scripts excluded; all commands = INFO commandstats (what scripts run included).\n',
      )
      const all = contenders(rig)
      const results = await measureThroughput(rig, all)
      await countRoundTrips(rig, all, results)
      report(results)
      for (const [name, count] of storeErrors)
        console.log(`${name}: ${count} call(s) hit the store deadline.\n`)
      const floods = [await denyCacheFlood(rig, true), await denyCacheFlood(rig, false)]
      console.log('### Deny-cache flood: one limited identifier, 64 calls in flight\n')
      reportFloods(floods)
      targets(results, floods)
    } finally {
      await rig.close()
    }
  },
}
