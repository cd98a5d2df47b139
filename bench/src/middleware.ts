// `pnpm bench middleware`: the time each framework's rate-limit middleware takes before it hands a
// request on, timed inside the server around the middleware itself. Server CPU per request (the
// `http` section) on this shared VM is half kernel time whose cost moves by a third between runs;
// this span leaves out the socket, the route and the response, and so resolves what the limiter
// itself costs inside the framework, which the CPU figures cannot.
import { median, table } from './harness.js'
import { FRAMEWORKS, type Framework, PEERS, type Variant, variantsOf } from './http-apps.js'
import { type LoadOptions, measureSwitched } from './http-load.js'
import type { Section } from './section.js'

const ROUNDS = 7
// One connection: a request is alone in the server, so an asynchronous middleware's span (from
// its call to its `next()`) holds no other request's work.
const LOAD: LoadOptions = { connections: 1, durationSeconds: 1 }

/** The variants that hand the request on (a denied request never reaches `next()`). */
function measuredVariants(framework: Framework): Variant[] {
  return variantsOf(framework).filter((v) => !v.endsWith('-denied'))
}

async function measureFramework(framework: Framework): Promise<Map<Variant, number[]>> {
  const variants = measuredVariants(framework)
  const samples = await measureSwitched(framework, 'switch-timed', variants, ROUNDS, LOAD, LOAD)
  return new Map(variants.map((v) => [v, samples.get(v)!.map((s) => s.ownMicrosPerRequest)]))
}

function label(framework: Framework, variant: Variant): string {
  switch (variant) {
    case 'bare':
      return 'bare (the switch alone: next() at once)'
    case 'headers-only':
      return 'the same headers, constant (floor)'
    case 'floodgate-allowed':
      return framework === 'express' ? 'Floodgate' : 'Floodgate (X-RateLimit-* like the peer)'
    case 'floodgate-allowed-default-headers':
      return 'Floodgate (default: draft-8 + X-RateLimit-*)'
    default:
      return PEERS[framework]
  }
}

/** Per-round differences against bare, as median and middle half. */
function overBare(spans: Map<Variant, number[]>, variant: Variant): { median: number; half: string } {
  const bare = spans.get('bare')!
  const diffs = spans
    .get(variant)!
    .map((x, i) => x - bare[i]!)
    .sort((a, b) => a - b)
  const at = (q: number) => diffs[Math.round(q * (diffs.length - 1))]!
  return { median: median(diffs), half: `${at(0.25).toFixed(2)} … ${at(0.75).toFixed(2)}` }
}

async function run(): Promise<void> {
  console.log(
    `${ROUNDS} rounds; every round starts one server process per framework holding every variant ` +
      'that hands requests on, warms each for 1 s, then loads each for 1 s with one connection, ' +
      'in an order rotated every round. The span is timed with performance.now() in the server, ' +
      'from just before the variant to its next() (Express, Koa) or, on Fastify, from the ' +
      "context's first onRequest hook to its preValidation hook. Medians; differences paired per round.\n",
  )
  const summary: string[][] = []
  for (const framework of FRAMEWORKS) {
    const spans = await measureFramework(framework)
    const rows = measuredVariants(framework).map((v) => {
      const own = median(spans.get(v)!)
      if (v === 'bare') return [label(framework, v), own.toFixed(2), '', '']
      const { median: added, half } = overBare(spans, v)
      return [label(framework, v), own.toFixed(2), added.toFixed(2), half]
    })
    console.log(`### ${framework}\n`)
    console.log(table(['variant', 'µs per request', 'over bare', 'middle half of rounds'], rows))
    console.log('')
    const floodgate = overBare(spans, 'floodgate-allowed').median
    const peer = overBare(spans, 'peer-allowed').median
    const floor = overBare(spans, 'headers-only').median
    summary.push([
      framework,
      floodgate.toFixed(2),
      peer.toFixed(2),
      (floodgate / peer).toFixed(2),
      (floodgate - floor).toFixed(2),
    ])
  }
  console.log('### Summary (like-for-like headers)\n')
  console.log(
    table(
      [
        'framework',
        'Floodgate over bare, µs',
        'peer over bare, µs',
        'Floodgate ÷ peer',
        'Floodgate over the floor, µs',
      ],
      summary,
    ),
  )
}

export const middlewareSection: Section = {
  name: 'middleware',
  description:
    "the rate-limit middleware's own time per request inside each framework, Floodgate and the peer",
  run,
}
