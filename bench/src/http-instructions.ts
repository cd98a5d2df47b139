// Server instructions per HTTP request, counted by valgrind: the CPU a limiter adds to a request,
// measured so that the host's noise cannot move it.
//
//   pnpm --filter @floodgate/bench exec node --import tsx src/http-instructions.ts
//     [--requests LOW,HIGH] [--variants v1,v2,...] [--repeat N] [framework ...]
//
// For each framework and variant (bare, Floodgate and the peer allowing every request, both
// denying every request, and two floors with no limiter: the same headers, and a constant 429
// with the same headers and body), the server runs in a child process under
// `valgrind --tool=cachegrind` with V8's `--predictable`, and this process sends it LOW, then in a
// second child HIGH, requests one after another on one keep-alive connection. The difference in the server's instructions over
// the difference in requests is one request in steady state. It counts the server's own
// instructions only: not the kernel's socket work (a large share of a request's CPU on this host),
// so "÷ bare" overstates the limiter's share of a request's CPU. Needs valgrind; about five
// minutes per framework and repetition. Counts depend on the host (its CPU's features choose the
// code Node, V8 and the C library run), so compare variants counted on one host; `--repeat N` runs
// each variant N times and reports the median and the range.
import { spawn } from 'node:child_process'
import { Agent, request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { FRAMEWORKS, type Framework, PEERS, ROUTE, type Variant } from './http-apps.js'
import { COUNTED_NODE, COUNTING, instructionsIn, option, perOperation } from './valgrind.js'

/**
 * Requests of the two runs. The low count is past the warm-up: V8's tiers, and the 10,000 requests
 * for which the adapters still look for forwarding headers (docs/security.md), come before it.
 */
const REQUESTS = { low: 12_000, high: 32_000 }
const DEFAULT_VARIANTS: readonly Variant[] = [
  'bare',
  'headers-only',
  'floodgate-allowed',
  'peer-allowed',
  'constant-denied',
  'floodgate-denied',
  'peer-denied',
]
const CHILD = fileURLToPath(new URL('./http-instructions-child.ts', import.meta.url))

/** The server's instructions for `requests` requests (and its start and exit). */
async function instructions(framework: Framework, variant: Variant, requests: number): Promise<number> {
  const args = [...COUNTING, ...COUNTED_NODE, CHILD, framework, variant]
  const child = spawn('valgrind', args, { stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.setEncoding('utf8').once('data', (line: string) => resolve(Number(line.trim())))
    child.once('exit', () => reject(new Error(`the ${framework} ${variant} server exited:\n${stderr}`)))
  })
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  try {
    for (let i = 0; i < requests; i++) await get(agent, port)
  } finally {
    agent.destroy()
    child.stdin.end()
  }
  await exited
  return instructionsIn(stderr, `${framework} ${variant}`)
}

function get(agent: Agent, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: ROUTE, agent }, (res) => {
      res.resume()
      res.on('end', resolve)
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

async function main(argv: string[]): Promise<void> {
  const [low, high] = (option(argv, '--requests') ?? `${REQUESTS.low},${REQUESTS.high}`)
    .split(',')
    .map(Number)
  const requests = { low: low!, high: high! }
  const measured = (option(argv, '--variants')?.split(',') as Variant[] | undefined) ?? DEFAULT_VARIANTS
  const repeat = Number(option(argv, '--repeat') ?? 1)
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat takes a whole number ≥ 1')
  const frameworks = argv.length > 0 ? (argv as Framework[]) : FRAMEWORKS
  for (const framework of frameworks) {
    if (!FRAMEWORKS.includes(framework)) throw new Error(`Unknown framework "${framework}"`)
    const runs = new Map<Variant, number[]>(measured.map((v) => [v, []]))
    // Repetitions outermost, so that a slow drift of the host touches every variant alike.
    for (let r = 0; r < repeat; r++) {
      for (const variant of measured)
        runs
          .get(variant)!
          .push(await perOperation((n) => instructions(framework, variant, n), requests.low, requests.high))
    }
    report(framework, runs)
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function report(framework: Framework, runs: ReadonlyMap<Variant, readonly number[]>): void {
  const format = (n: number) => Math.round(n).toLocaleString('en-US')
  const counts = new Map([...runs].map(([variant, values]) => [variant, median(values)]))
  const bare = counts.get('bare')
  const repeated = [...runs.values()].some((values) => values.length > 1)
  console.log(`### ${framework} (peer: ${PEERS[framework]}), server instructions per request\n`)
  console.log(
    repeated
      ? '| variant | instructions (median) | runs, lowest … highest | added over bare | ÷ bare |\n| --- | ---: | ---: | ---: | ---: |'
      : '| variant | instructions | added over bare | ÷ bare |\n| --- | ---: | ---: | ---: |',
  )
  for (const [variant, n] of counts) {
    const values = runs.get(variant)!
    const range = repeated ? ` ${format(Math.min(...values))} … ${format(Math.max(...values))} |` : ''
    const over = bare === undefined || variant === 'bare' ? '' : format(n - bare)
    console.log(
      `| ${variant} | ${format(n)} |${range} ${over} | ${bare === undefined ? '' : (n / bare).toFixed(3)} |`,
    )
  }
  const floodgate = counts.get('floodgate-allowed')
  const peer = counts.get('peer-allowed')
  const denied = counts.get('floodgate-denied')
  if (bare !== undefined && floodgate !== undefined && peer !== undefined && denied !== undefined) {
    console.log(
      `\nFloodgate's addition ÷ the peer's: ${((floodgate - bare) / (peer - bare)).toFixed(2)}; ` +
        `÷ bare: ${((100 * (floodgate - bare)) / bare).toFixed(1)} %; Floodgate's 429 ÷ bare: ${(denied / bare).toFixed(3)}.`,
    )
  }
  // The floors: what the headers (and a 429's body) cost with no limiter at all.
  const headers = counts.get('headers-only')
  const constantDenial = counts.get('constant-denied')
  if (bare !== undefined && peer !== undefined && headers !== undefined) {
    console.log(
      `The constant headers alone: ${((headers - bare) / (peer - bare)).toFixed(2)} of the peer's addition, ` +
        `${((100 * (headers - bare)) / bare).toFixed(1)} % of bare.`,
    )
  }
  if (bare !== undefined && constantDenial !== undefined) {
    console.log(
      `A constant 429 with the same headers and body ÷ bare: ${(constantDenial / bare).toFixed(3)}.`,
    )
  }
  console.log('')
}

await main(process.argv.slice(2))
