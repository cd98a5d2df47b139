// Measurement helpers shared by the sections: alternating rounds, medians and plain-text tables.

/** One contender in a throughput comparison: `run(n)` performs n operations. */
export interface Contender {
  name: string
  run(operations: number): Promise<void>
}

export interface Throughput {
  name: string
  /** Median operations per second over the rounds. */
  opsPerSecond: number
  /** Every round's operations per second, in round order. */
  rounds: number[]
}

export interface RoundOptions {
  rounds: number
  /** Target duration of one contender's round, in ms; the operation count is calibrated to it. */
  roundMs: number
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Runs `run(n)` and returns the elapsed ms. */
async function timed(contender: Contender, operations: number): Promise<number> {
  const start = process.hrtime.bigint()
  await contender.run(operations)
  return Number(process.hrtime.bigint() - start) / 1e6
}

/** Finds an operation count that takes about `roundMs` (after a warm-up that also lets the JIT settle). */
async function calibrate(contender: Contender, roundMs: number): Promise<number> {
  let operations = 1_000
  for (;;) {
    const ms = await timed(contender, operations)
    if (ms >= roundMs / 4) return Math.max(1_000, Math.round((operations * roundMs) / ms))
    operations *= 4
  }
}

/**
 * Measures every contender in alternating rounds (round r runs them in an order rotated by r), so
 * slow phases of a noisy shared machine hit every contender alike. Reports medians.
 */
export async function compare(
  contenders: readonly Contender[],
  options: RoundOptions,
): Promise<Throughput[]> {
  const counts: number[] = []
  for (const c of contenders) counts.push(await calibrate(c, options.roundMs))
  const rounds: number[][] = contenders.map(() => [])
  for (let r = 0; r < options.rounds; r++) {
    for (let j = 0; j < contenders.length; j++) {
      const i = (j + r) % contenders.length
      collectGarbage()
      const ms = await timed(contenders[i]!, counts[i]!)
      rounds[i]!.push((counts[i]! * 1000) / ms)
    }
  }
  return contenders.map((c, i) => ({ name: c.name, opsPerSecond: median(rounds[i]!), rounds: rounds[i]! }))
}

/** Runs a full GC when node was started with --expose-gc, so one contender's garbage is not billed to the next. */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
}

/** Formats a number with thousands separators. */
export function formatInt(value: number): string {
  return Math.round(value).toLocaleString('en-US')
}

export function formatRatio(value: number): string {
  return `${value.toFixed(2)}×`
}

/** A Markdown table (readable in a terminal and pasteable into docs/benchmarks.md). */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`
  const rule = `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`
  return [line(headers), rule, ...rows.map(line)].join('\n')
}
