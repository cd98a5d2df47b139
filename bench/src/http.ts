// `pnpm bench http`: each framework's tiny JSON route bare, behind Floodgate and behind its usual
// peer, allowed and all-denied. Servers run in child processes, load comes from this process
// (autocannon), rounds alternate the servers, and CPU per request is measured inside each server.
import { formatInt, median, table } from './harness.js'
import { FRAMEWORKS, type Framework, PEERS, type Variant, variantsOf } from './http-apps.js'
import { type LoadOptions, measureSwitched, type Sample, ServerProcess } from './http-load.js'
import type { Section } from './section.js'

const ROUNDS = positiveNumber('FLOODGATE_BENCH_HTTP_ROUNDS', 7)
const LOAD: LoadOptions = {
  connections: positiveNumber('FLOODGATE_BENCH_HTTP_CONNECTIONS', 10),
  durationSeconds: positiveNumber('FLOODGATE_BENCH_HTTP_SECONDS', 1),
}
const WARM_UP: LoadOptions = { ...LOAD, durationSeconds: 1 }

function positiveNumber(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!(value > 0)) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`)
  return value
}

/** Every round's sample per variant, in round order (so rounds pair up across variants). */
type Samples = Partial<Record<Variant, Sample[]>>

/**
 * `same-process` (the default since the fourth session): each round starts one server process per
 * framework holding every variant, and measures the variants one after another by switching which
 * one it serves. `processes`: each round starts one process per variant, as before.
 */
const MODE = (() => {
  const raw = process.env.FLOODGATE_BENCH_HTTP_MODE ?? 'same-process'
  if (raw !== 'same-process' && raw !== 'processes') {
    throw new Error(`FLOODGATE_BENCH_HTTP_MODE must be same-process or processes, got ${JSON.stringify(raw)}`)
  }
  return raw
})()

async function measureFramework(framework: Framework): Promise<Samples> {
  return MODE === 'same-process' ? measureInOneProcess(framework) : measureInProcesses(framework)
}

// A server process keeps a bias of a few µs per request for its whole life (memory layout, JIT,
// where the scheduler puts it), which rotating the order of rounds cannot average out, and which
// once made bare servers measure slower than limited ones. With every variant in one process that
// bias is common to all of them and cancels out of each paired difference; a fresh process every
// round keeps one process's layout from deciding the run.
async function measureInOneProcess(framework: Framework): Promise<Samples> {
  const samples = await measureSwitched(framework, 'switch', variantsOf(framework), ROUNDS, WARM_UP, LOAD)
  return Object.fromEntries(samples)
}

// Every round starts its servers afresh, for the reason above.
async function measureInProcesses(framework: Framework): Promise<Samples> {
  const variants = variantsOf(framework)
  const samples: Samples = Object.fromEntries(variants.map((v) => [v, [] as Sample[]]))
  for (let r = 0; r < ROUNDS; r++) {
    const servers = await Promise.all(variants.map((v) => ServerProcess.start(framework, v)))
    try {
      for (const server of servers) await server.measure(WARM_UP)
      // Rotate the order each round, so a slow phase of the shared machine hits every server alike.
      for (let j = 0; j < servers.length; j++) {
        const server = servers[(j + r) % servers.length]!
        samples[server.variant as Variant]!.push(await server.measure(LOAD))
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()))
    }
  }
  return samples
}

/** The median of a per-round quantity that pairs variant `a` with variant `b` of the same round. */
function paired(samples: Samples, a: Variant, b: Variant, f: (a: Sample, b: Sample) => number): number {
  return median(samples[a]!.map((s, i) => f(s, samples[b]![i]!)))
}

/** The 25th to 75th percentile of a per-round paired quantity: how much the rounds disagree. */
function spread(samples: Samples, a: Variant, f: (a: Sample, b: Sample) => number): string {
  const values = samples[a]!.map((s, i) => f(s, samples.bare![i]!)).sort((x, y) => x - y)
  const at = (q: number) => values[Math.round(q * (values.length - 1))]!
  return `${at(0.25).toFixed(1)} … ${at(0.75).toFixed(1)}`
}

const rps = (s: Sample) => s.requestsPerSecond
const cpu = (s: Sample) => s.cpuMicrosPerRequest

/** The share of responses with `status`, in %. */
function share(sample: Sample, status: string): number {
  const total = Object.values(sample.statuses).reduce((a, b) => a + b, 0)
  return total === 0 ? 0 : (100 * (sample.statuses[status] ?? 0)) / total
}

export interface FrameworkResult {
  framework: Framework
  samples: Samples
  /** Floodgate's and the peer's throughput ÷ bare, allowed path. */
  floodgateThroughputRatio: number
  peerThroughputRatio: number
  /** Server CPU µs per request added over bare, allowed path. */
  floodgateAddedMicros: number
  peerAddedMicros: number
  bareMicros: number
  /** CPU of a 429 ÷ CPU of the bare route. */
  floodgateDeniedRatio: number
  peerDeniedRatio: number
  /** The floors, with no limiter: server CPU µs the constant headers add, and a constant 429 ÷ bare. */
  headersAddedMicros: number
  constantDeniedRatio: number
}

function summarise(framework: Framework, samples: Samples): FrameworkResult {
  return {
    framework,
    samples,
    floodgateThroughputRatio: paired(samples, 'floodgate-allowed', 'bare', (a, b) => rps(a) / rps(b)),
    peerThroughputRatio: paired(samples, 'peer-allowed', 'bare', (a, b) => rps(a) / rps(b)),
    floodgateAddedMicros: paired(samples, 'floodgate-allowed', 'bare', (a, b) => cpu(a) - cpu(b)),
    peerAddedMicros: paired(samples, 'peer-allowed', 'bare', (a, b) => cpu(a) - cpu(b)),
    bareMicros: median(samples.bare!.map(cpu)),
    floodgateDeniedRatio: paired(samples, 'floodgate-denied', 'bare', (a, b) => cpu(a) / cpu(b)),
    peerDeniedRatio: paired(samples, 'peer-denied', 'bare', (a, b) => cpu(a) / cpu(b)),
    headersAddedMicros: paired(samples, 'headers-only', 'bare', (a, b) => cpu(a) - cpu(b)),
    constantDeniedRatio: paired(samples, 'constant-denied', 'bare', (a, b) => cpu(a) / cpu(b)),
  }
}

function label(framework: Framework, variant: Variant): string {
  const peer = PEERS[framework]
  switch (variant) {
    case 'bare':
      return 'bare'
    case 'headers-only':
      return 'bare + the same headers, constant (floor)'
    case 'floodgate-allowed':
      return framework === 'express'
        ? 'Floodgate, allowed'
        : 'Floodgate, allowed (X-RateLimit-* like the peer)'
    case 'floodgate-allowed-default-headers':
      return 'Floodgate, allowed (default: draft-8 + X-RateLimit-*)'
    case 'peer-allowed':
      return `${peer}, allowed`
    case 'floodgate-denied':
      return 'Floodgate, all denied (429)'
    case 'peer-denied':
      return `${peer}, all denied (429)`
    case 'constant-denied':
      return 'a constant 429 with the same headers and body (floor)'
  }
}

function frameworkTable(result: FrameworkResult): string {
  const { framework, samples } = result
  const rows = variantsOf(framework).map((variant) => {
    const s = samples[variant]!
    const expected = variant.endsWith('-denied') ? '429' : '200'
    const errors = s.reduce((n, x) => n + x.errors, 0)
    return [
      label(framework, variant),
      formatInt(median(s.map(rps))),
      variant === 'bare' ? '1.00' : paired(samples, variant, 'bare', (a, b) => rps(a) / rps(b)).toFixed(2),
      median(s.map(cpu)).toFixed(1),
      median(s.map((x) => x.systemMicrosPerRequest)).toFixed(1),
      variant === 'bare' ? '' : paired(samples, variant, 'bare', (a, b) => cpu(a) - cpu(b)).toFixed(1),
      variant === 'bare' ? '' : spread(samples, variant, (a, b) => cpu(a) - cpu(b)),
      `${Math.min(...s.map((x) => share(x, expected))).toFixed(1)} % ${expected}${errors > 0 ? `, ${errors} errors` : ''}`,
    ]
  })
  return table(
    [
      'variant',
      'req/s',
      '÷ bare',
      'server CPU µs/req',
      'of it kernel',
      'added µs/req',
      'middle half of rounds',
      'answers',
    ],
    rows,
  )
}

const mark = (ok: boolean) => (ok ? 'yes' : '**no**')

function targetsTable(results: readonly FrameworkResult[]): string {
  const rows = results.map((r) => [
    r.framework,
    `${r.floodgateThroughputRatio.toFixed(2)} (peer ${r.peerThroughputRatio.toFixed(2)}) ${mark(r.floodgateThroughputRatio >= 0.9)}`,
    r.peerAddedMicros > 0
      ? `${(r.floodgateAddedMicros / r.peerAddedMicros).toFixed(2)} ${mark(r.floodgateAddedMicros <= r.peerAddedMicros / 2)}`
      : `peer adds ${r.peerAddedMicros.toFixed(1)} µs ${mark(r.floodgateAddedMicros <= 0)}`,
    `${((100 * r.floodgateAddedMicros) / r.bareMicros).toFixed(1)} % ${mark(r.floodgateAddedMicros <= r.bareMicros / 10)}`,
    `${r.floodgateDeniedRatio.toFixed(2)} (peer ${r.peerDeniedRatio.toFixed(2)}) ${mark(r.floodgateDeniedRatio <= 1)}`,
  ])
  return table(
    [
      'framework',
      'throughput ÷ bare (≥ 0.90)',
      'added CPU ÷ peer added (≤ 0.50)',
      'added CPU ÷ bare CPU (≤ 10 %)',
      '429 CPU ÷ bare CPU (≤ 1.00)',
    ],
    rows,
  )
}

/** What no limiter can go below: the same headers, and the same 429, with no limiter at all. */
function floorsTable(results: readonly FrameworkResult[]): string {
  const rows = results.map((r) => [
    r.framework,
    r.peerAddedMicros > 0 ? (r.headersAddedMicros / r.peerAddedMicros).toFixed(2) : 'peer adds ≤ 0',
    `${((100 * r.headersAddedMicros) / r.bareMicros).toFixed(1)} %`,
    r.constantDeniedRatio.toFixed(2),
  ])
  return table(
    [
      'framework',
      'constant headers ÷ peer added',
      'constant headers ÷ bare CPU',
      'constant 429 CPU ÷ bare CPU',
    ],
    rows,
  )
}

async function run(): Promise<void> {
  const frameworks = selectedFrameworks()
  console.log(
    (MODE === 'same-process'
      ? `${ROUNDS} rounds of ${LOAD.durationSeconds} s per variant; every round starts one server process per framework holding all its variants, warms each up for ${WARM_UP.durationSeconds} s, then measures them one after another, switching the variant served, in an order rotated every round; `
      : `${ROUNDS} rounds of ${LOAD.durationSeconds} s per server, each round with every server started afresh and warmed up for ${WARM_UP.durationSeconds} s, in an order rotated every round; `) +
      `autocannon, ${LOAD.connections} connections, GET /json over loopback. Limited variants: one ` +
      'counter per client IP, fixed window of 1 min, limit 10⁹ (allowed) or 1 (denied). Same headers ' +
      "on both sides: draft-8 + X-RateLimit-* on Express (Floodgate's default; express-rate-limit set " +
      'to it), X-RateLimit-* only on Koa and Fastify (what their peers send), plus one row with ' +
      "Floodgate's default headers there. Medians over rounds; ratios and differences paired per round.\n",
  )
  const results: FrameworkResult[] = []
  for (const framework of frameworks) {
    const result = summarise(framework, await measureFramework(framework))
    results.push(result)
    console.log(`### ${framework}\n\n${frameworkTable(result)}\n`)
  }
  console.log(`### Targets (issue #3)\n\n${targetsTable(results)}`)
  console.log(
    '\n### Floors: the same headers and the same 429 with no limiter\n\n' +
      'A target is out of reach for any limiter sending these headers where its floor alone misses it ' +
      '(above 0.50, 10 % or 1.00). `src/http-instructions.ts` counts them more steadily, but ' +
      `leaves out the kernel's share of a request, so its floors come out larger.\n\n${floorsTable(results)}`,
  )
}

/** `FLOODGATE_BENCH_HTTP_FRAMEWORKS=koa,fastify` narrows the run (for profiling one framework). */
function selectedFrameworks(): Framework[] {
  const raw = process.env.FLOODGATE_BENCH_HTTP_FRAMEWORKS
  if (raw === undefined || raw === '') return [...FRAMEWORKS]
  const list = raw.split(',').map((s) => s.trim()) as Framework[]
  for (const f of list) {
    if (!FRAMEWORKS.includes(f)) throw new Error(`FLOODGATE_BENCH_HTTP_FRAMEWORKS: unknown framework "${f}"`)
  }
  return list
}

export const httpSection: Section = {
  name: 'http',
  description:
    'HTTP throughput and server CPU per request: bare, Floodgate and the usual peer, per framework',
  run,
}
