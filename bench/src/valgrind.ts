// What the instruction-counting tools share: how they run a process under valgrind, how they read
// its count, and how they read their command line.

/**
 * valgrind's arguments before the program: cachegrind counting instructions only (no cache
 * simulation), with V8's generated code checked for changes (it rewrites code in place).
 */
export const COUNTING = [
  '--tool=cachegrind',
  '--cache-sim=no',
  '--smc-check=all-non-file',
  '--cachegrind-out-file=/dev/null',
]

/**
 * Node's arguments for a counted process: `--predictable` keeps V8's compiler and garbage collector
 * on the main thread, so two runs of one program give the same count to within about 1 %.
 */
export const COUNTED_NODE = [process.execPath, '--predictable', '--import', 'tsx']

/** The instruction total in valgrind's report (its stderr); `what` names the run in an error. */
export function instructionsIn(stderr: string, what: string): number {
  const match = /I\s+refs:\s+([\d,]+)/.exec(stderr)
  if (match === null) throw new Error(`valgrind printed no instruction count for ${what}:\n${stderr}`)
  return Number(match[1]!.replaceAll(',', ''))
}

/** The value after `name` (`--keys 100000`) in `argv`, taken out of it; undefined when absent. */
export function option(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name)
  if (at === -1) return undefined
  return argv.splice(at, 2)[1]
}

/**
 * The instructions of one operation in steady state: `count(n)` counts a process doing n operations
 * (start-up, compilation and warm-up included); the difference between `low` and `high` operations,
 * over the difference in operations, leaves only the operations. The two counts run side by side:
 * each process is single-threaded under valgrind.
 */
export async function perOperation(
  count: (operations: number) => Promise<number>,
  low: number,
  high: number,
): Promise<number> {
  const [atLow, atHigh] = await Promise.all([count(low), count(high)])
  return (atHigh - atLow) / (high - low)
}
