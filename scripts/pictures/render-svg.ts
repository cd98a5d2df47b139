import type { Policy } from '../../packages/core/src/index.js'
import { DURATION_MS, type Simulation } from './simulate.js'

// Hand-written SVG: no dependency, and every number is printed with one decimal at most so the
// output is byte-identical on every run and every platform.

const WIDTH = 1200
const LEFT = 80
const PLOT_WIDTH = 1090
const PANEL_HEIGHT = 190
const LANE_ADMITTED_Y = 36
const LANE_DENIED_Y = 52
const CHART_TOP = 66
const CHART_HEIGHT = 100
const CHART_BOTTOM = CHART_TOP + CHART_HEIGHT
const ADMITTED = '#2563eb'
const DENIED = '#dc2626'
const LINE = '#0f766e'
const MUTED = '#64748b'

function n(value: number): string {
  return String(Math.round(value * 10) / 10)
}

function xOf(atMs: number): number {
  return LEFT + (atMs * PLOT_WIDTH) / DURATION_MS
}

function quotaOf(policy: Policy): number {
  return policy.kind === 'token-bucket' ? policy.capacity : policy.limit
}

function seconds(ms: number): string {
  return `${n(ms / 1000)} s`
}

/** How the policy is written in code, for the panel's title. */
export function policyLabel(policy: Policy): string {
  switch (policy.kind) {
    case 'fixed-window':
      return `fixedWindow({ limit: ${policy.limit}, window: '${seconds(policy.windowMs)}' })`
    case 'sliding-window':
      return `slidingWindow({ limit: ${policy.limit}, window: '${seconds(policy.windowMs)}' })`
    case 'token-bucket':
      return `tokenBucket({ capacity: ${policy.capacity}, refillRate: ${policy.refillRate}, interval: '${seconds(policy.intervalMs)}' })`
  }
}

function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x="${n(x)}" y="${n(y)}"${attributes ? ` ${attributes}` : ''}>${content}</text>`
}

function boundaries(policy: Policy): string[] {
  const out: string[] = []
  const periodMs = policy.kind === 'token-bucket' ? policy.intervalMs : policy.windowMs
  for (let t = 0; t <= DURATION_MS; t += periodMs) {
    const x = n(xOf(t))
    // Token buckets have no windows: a faint second grid only, so the eye can compare panels.
    out.push(
      policy.kind === 'token-bucket'
        ? `<line x1="${x}" y1="28" x2="${x}" y2="${CHART_BOTTOM}" stroke="#e2e8f0"/>`
        : `<line x1="${x}" y1="28" x2="${x}" y2="${CHART_BOTTOM}" stroke="${MUTED}" stroke-dasharray="4 3"/>`,
    )
  }
  return out
}

function axes(quota: number): string[] {
  const out: string[] = []
  const yOf = (units: number) => CHART_BOTTOM - (units * CHART_HEIGHT) / quota
  for (const units of [0, quota / 2, quota]) {
    const y = n(yOf(units))
    out.push(`<line x1="${LEFT}" y1="${y}" x2="${LEFT + PLOT_WIDTH}" y2="${y}" stroke="#e2e8f0"/>`)
    out.push(text(LEFT - 8, yOf(units) + 4, n(units), 'text-anchor="end" font-size="11" fill="#334155"'))
  }
  out.push(
    text(
      16,
      CHART_TOP + CHART_HEIGHT / 2,
      'remaining',
      `font-size="11" fill="${LINE}" transform="rotate(-90 16 ${CHART_TOP + CHART_HEIGHT / 2})" text-anchor="middle"`,
    ),
  )
  for (let t = 0; t <= DURATION_MS; t += 500) {
    const x = xOf(t)
    out.push(
      `<line x1="${n(x)}" y1="${CHART_BOTTOM}" x2="${n(x)}" y2="${CHART_BOTTOM + 4}" stroke="#334155"/>`,
    )
    out.push(text(x, CHART_BOTTOM + 17, seconds(t), 'text-anchor="middle" font-size="11" fill="#334155"'))
  }
  out.push(
    text(LEFT - 8, LANE_ADMITTED_Y + 4, 'admitted', `text-anchor="end" font-size="11" fill="${ADMITTED}"`),
  )
  out.push(text(LEFT - 8, LANE_DENIED_Y + 4, 'denied', `text-anchor="end" font-size="11" fill="${DENIED}"`))
  return out
}

function marks(simulation: Simulation): string[] {
  return simulation.requests.map((r) =>
    r.allowed
      ? `<circle cx="${n(xOf(r.atMs))}" cy="${LANE_ADMITTED_Y}" r="2.6" fill="${ADMITTED}"/>`
      : `<circle cx="${n(xOf(r.atMs))}" cy="${LANE_DENIED_Y}" r="2.3" fill="none" stroke="${DENIED}" stroke-width="1.2"/>`,
  )
}

/** The remaining quota as a step line: it changes only at requests and as time passes. */
function quotaLine(simulation: Simulation): string {
  const quota = quotaOf(simulation.policy)
  const yOf = (units: number) => CHART_BOTTOM - (units * CHART_HEIGHT) / quota
  const [first, ...rest] = simulation.samples
  if (first === undefined) return ''
  let d = `M${n(xOf(first.atMs))} ${n(yOf(first.remaining))}`
  let lastY = yOf(first.remaining)
  for (const s of rest) {
    d += `H${n(xOf(s.atMs))}`
    const y = yOf(s.remaining)
    if (y !== lastY) d += `V${n(y)}`
    lastY = y
  }
  return `<path d="${d}" fill="none" stroke="${LINE}" stroke-width="1.6" stroke-linejoin="round"/>`
}

/** Counts of admitted and denied requests. */
export function tally(simulation: Simulation): { admitted: number; denied: number } {
  const admitted = simulation.requests.filter((r) => r.allowed).length
  return { admitted, denied: simulation.requests.length - admitted }
}

/** One policy's panel, `PANEL_HEIGHT` tall, placed at `y`. */
export function panel(simulation: Simulation, y: number): string {
  const { admitted, denied } = tally(simulation)
  return [
    `<g transform="translate(0 ${y})">`,
    text(LEFT, 16, policyLabel(simulation.policy), 'font-size="14" font-weight="600" fill="#0f172a"'),
    text(
      LEFT + PLOT_WIDTH,
      16,
      `${admitted} admitted, ${denied} denied`,
      'text-anchor="end" font-size="13" fill="#334155"',
    ),
    ...boundaries(simulation.policy),
    ...axes(quotaOf(simulation.policy)),
    quotaLine(simulation),
    ...marks(simulation),
    '</g>',
  ].join('\n')
}

function legend(y: number, windowed: boolean): string {
  const items = [
    `<circle cx="${LEFT + 6}" cy="${y}" r="3" fill="${ADMITTED}"/>`,
    text(LEFT + 14, y + 4, 'admitted request', 'font-size="12" fill="#334155"'),
    `<circle cx="${LEFT + 136}" cy="${y}" r="3" fill="none" stroke="${DENIED}" stroke-width="1.2"/>`,
    text(LEFT + 144, y + 4, 'denied request (429)', 'font-size="12" fill="#334155"'),
    `<line x1="${LEFT + 282}" y1="${y}" x2="${LEFT + 306}" y2="${y}" stroke="${LINE}" stroke-width="1.6"/>`,
    text(
      LEFT + 312,
      y + 4,
      'remaining quota: requests admitted now before a denial (RateLimit r=)',
      'font-size="12" fill="#334155"',
    ),
  ]
  if (windowed) {
    items.push(
      `<line x1="${LEFT + 750}" y1="${y - 7}" x2="${LEFT + 750}" y2="${y + 7}" stroke="${MUTED}" stroke-dasharray="4 3"/>`,
      text(LEFT + 758, y + 4, 'window boundary', 'font-size="12" fill="#334155"'),
    )
  }
  return items.join('\n')
}

function svgDocument(height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" role="img">`,
    `<title>${title}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n')
}

/** The picture of one policy on the trace. */
export function policySvg(simulation: Simulation): string {
  const windowed = simulation.policy.kind !== 'token-bucket'
  return svgDocument(PANEL_HEIGHT + 50, `${policyLabel(simulation.policy)} on a bursty trace`, [
    panel(simulation, 12),
    legend(PANEL_HEIGHT + 28, windowed),
  ])
}

/** The three policies stacked on one time axis. */
export function comparisonSvg(simulations: readonly Simulation[]): string {
  const top = 62
  const body = [
    text(
      LEFT,
      26,
      'The same bursty trace through each policy, at the same nominal rate of 10 requests per second',
      'font-size="16" font-weight="600" fill="#0f172a"',
    ),
    legend(46, true),
    ...simulations.map((s, i) => panel(s, top + i * (PANEL_HEIGHT + 10))),
  ]
  return svgDocument(
    top + simulations.length * (PANEL_HEIGHT + 10),
    'Fixed window, sliding window and token bucket on the same trace',
    body,
  )
}
