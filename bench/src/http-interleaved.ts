// Every variant of a framework served by one server at once, requests alternating between the
// variants one by one: `pnpm --filter @floodgate/bench exec node --import tsx
// src/http-interleaved.ts [framework ...]`. Each request's handling is timed inside the server, from
// the server's 'request' event to the return of `res.end()` (the socket write included, and on Koa
// the microtasks between), so a slow phase of a shared host falls on every variant alike. What the
// span leaves out, for every variant alike: parsing the request before the event, and the garbage
// collection of what a variant allocated (it lands in whichever request runs then). Autocannon runs
// in this process; the spans hold no client work, since a request's handling runs to `res.end()`
// without yielding to another callback.
import { ServerResponse } from 'node:http'
import autocannon from 'autocannon'
import { formatRatio, median, table } from './harness.js'
import {
  FRAMEWORKS,
  type Framework,
  PEERS,
  startBenchServer,
  VARIANT_HEADER,
  type Variant,
  variantsOf,
} from './http-apps.js'

const ROUNDS = 7
const ROUND_SECONDS = 2
const CONNECTIONS = 10

const frameworks = process.argv.slice(2) as Framework[]
for (const f of frameworks) {
  if (!FRAMEWORKS.includes(f)) throw new Error(`usage: http-interleaved.ts [${FRAMEWORKS.join('|')} ...]`)
}

/** The spans of the requests being served, summed per variant index. */
const spans = { current: -1, startMs: 0, micros: [] as number[], counts: [] as number[] }

const end = ServerResponse.prototype.end
ServerResponse.prototype.end = function (this: ServerResponse, ...args: unknown[]) {
  const result = (end as (...a: unknown[]) => ServerResponse).apply(this, args)
  if (spans.current >= 0) {
    spans.micros[spans.current]! += (performance.now() - spans.startMs) * 1000
    spans.counts[spans.current]! += 1
    spans.current = -1
  }
  return result
} as typeof end

async function measure(framework: Framework): Promise<void> {
  const variants = variantsOf(framework)
  const { server, select } = await startBenchServer(framework, 'interleaved')
  const emit = server.emit
  server.emit = function (this: typeof server, event: string, ...args: unknown[]) {
    if (event === 'request') {
      const headers = (args[0] as { headers: Record<string, string | undefined> }).headers
      spans.current = Number(headers[VARIANT_HEADER])
      spans.startMs = performance.now()
    }
    return (emit as (...a: unknown[]) => boolean).call(this, event, ...args)
  } as typeof emit
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const requests = variants.map((v, i) => ({ path: select(v), headers: { [VARIANT_HEADER]: String(i) } }))
  const load = () =>
    autocannon({
      url: `http://127.0.0.1:${port}`,
      connections: CONNECTIONS,
      duration: ROUND_SECONDS,
      requests,
    })

  await load()
  const rounds: number[][] = variants.map(() => [])
  for (let r = 0; r < ROUNDS; r++) {
    spans.micros = variants.map(() => 0)
    spans.counts = variants.map(() => 0)
    await load()
    for (let i = 0; i < variants.length; i++) rounds[i]!.push(spans.micros[i]! / spans.counts[i]!)
  }
  server.close()
  server.closeAllConnections()

  const at = (v: Variant) => variants.indexOf(v)
  const bare = median(rounds[at('bare')]!)
  /** The median over rounds of a variant's span minus bare's in the same round. */
  const added = (v: Variant) => median(rounds[at(v)]!.map((us, r) => us - rounds[at('bare')]![r]!))
  const rows = variants.map((v, i) => [
    v,
    median(rounds[i]!).toFixed(2),
    v === 'bare' ? '' : added(v).toFixed(2),
    v === 'bare' ? '' : formatRatio(median(rounds[i]!) / bare),
  ])
  console.log(`### ${framework}\n`)
  console.log(table(['variant', 'µs per request', 'over bare, paired', '÷ bare'], rows))
  const ours = added('floodgate-allowed')
  const peers = added('peer-allowed')
  console.log(
    `\nFloodgate added ÷ ${PEERS[framework]} added: ${(ours / peers).toFixed(2)}; Floodgate added ÷ bare span: ${((100 * ours) / bare).toFixed(1)} %; ` +
      `429: Floodgate ${formatRatio(median(rounds[at('floodgate-denied')]!) / bare)}, ${PEERS[framework]} ${formatRatio(median(rounds[at('peer-denied')]!) / bare)} of bare\n`,
  )
}

console.log(
  `Every variant in one server, requests alternating between them; ${ROUNDS} rounds of ${ROUND_SECONDS} s, ${CONNECTIONS} connections; ` +
    "each request timed in the server from its 'request' event to the return of res.end(); medians over rounds.\n",
)
for (const framework of frameworks.length > 0 ? frameworks : FRAMEWORKS) await measure(framework)
process.exit(0)
