// Instructions per call, counted by valgrind: a measure this shared, noisy host cannot disturb.
//
//   pnpm --filter @floodgate/bench exec node --import tsx src/instructions.ts [--keys N] [contender ...]
//
// Each contender runs in a child process under valgrind twice, with LOW and HIGH calls; the
// difference in instructions over the difference in calls is the cost of one call in steady state
// (start-up, compilation and warm-up cancel out). Two runs of one build agree to within about 1 %
// (see valgrind.ts); different builds of the same code can differ by a few percent where V8's
// choices of what to inline change. It counts instructions only: no cache misses, so on 100k keys
// it leaves out what `pnpm bench decisions` is mostly made of. Needs valgrind; about a minute per
// contender. Besides the defaults, `floodgate-two-policies` counts a request of a token bucket and a
// fixed window.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { COUNTED_NODE, COUNTING, instructionsIn, option, perOperation } from './valgrind.js'

const run = promisify(execFile)
const LOW = 300_000
const HIGH = 1_500_000
const DEFAULT_CONTENDERS = [
  'floodgate',
  'floodgate-mixed',
  'reference',
  'express-rate-limit',
  'rate-limiter-flexible',
]
const CHILD = fileURLToPath(new URL('./instructions-child.ts', import.meta.url))

async function instructions(contender: string, keys: number, calls: number): Promise<number> {
  const args = [...COUNTING, ...COUNTED_NODE, CHILD, contender, String(keys), String(calls)]
  const { stderr } = await run('valgrind', args, { maxBuffer: 16 * 2 ** 20 })
  return instructionsIn(stderr, contender)
}

async function main(argv: string[]): Promise<void> {
  const keys = Number(option(argv, '--keys') ?? 1)
  const contenders = argv.length > 0 ? argv : DEFAULT_CONTENDERS
  console.log(`Instructions per call, ${keys === 1 ? 'one key' : `${keys} keys round-robin`} (valgrind):\n`)
  console.log('| contender | instructions per call |\n| --- | ---: |')
  for (const contender of contenders) {
    const perCall = await perOperation((calls) => instructions(contender, keys, calls), LOW, HIGH)
    console.log(`| ${contender} | ${Math.round(perCall).toLocaleString('en-US')} |`)
  }
}

await main(process.argv.slice(2))
