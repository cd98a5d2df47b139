// In-process decisions per second on the memory store: Floodgate's policies against the peers'
// in-memory limiters, in the same run, in alternating rounds.
import {
  createRateLimiter,
  type Decision,
  fixedWindow,
  memoryStore,
  type Policy,
  slidingWindow,
  tokenBucket,
} from '@floodgate/core'
import { MemoryStore } from 'express-rate-limit'
import { RateLimiterMemory } from 'rate-limiter-flexible'
import { DecisionFloor } from './decision-floor.js'
import { type Contender, compare, formatInt, formatRatio, type Throughput, table } from './harness.js'
import type { Section } from './section.js'

/**
 * High enough that nobody denies during a measurement (a key takes well under 10^9 calls in one
 * 60 s window): every contender does the admit path. Below 2^31, so counts stay small integers in
 * V8, as they do for any real limit; a limit past that would box every count as a heap number.
 */
const NEVER_REACHED = 2_000_000_000
const WINDOW_MS = 60_000
const KEY_COUNT = 100_000
/** Calls in flight at once in the batched variant. */
const BATCH = 64
const ROUNDS = 9
const ROUND_MS = 200

/**
 * One call of a contender's own API, returning the promise it returns (no wrapper of ours around
 * it, so no contender pays an extra async layer), and a check of each answer.
 */
interface Call {
  call: (key: string) => Promise<unknown>
  check?: (answer: unknown) => void
}

/** A contender's loop: n calls over `keys` round-robin, from `position.next` on. */
type Loop = (
  call: Call['call'],
  check: Call['check'],
  keys: readonly string[],
  position: { next: number },
  n: number,
) => Promise<void>

const SEQUENTIAL_LOOP = `
  let next = position.next
  for (let i = 0; i < n; i++) {
    const answer = await call(keys[next])
    next = next + 1 === keys.length ? 0 : next + 1
    if (check !== undefined) check(answer)
  }
  position.next = next`

const BATCHED_LOOP = `
  const inFlight = new Array(${BATCH})
  let next = position.next
  for (let done = 0; done < n; done += ${BATCH}) {
    for (let i = 0; i < ${BATCH}; i++) {
      inFlight[i] = call(keys[next])
      next = next + 1 === keys.length ? 0 : next + 1
    }
    const answers = await Promise.all(inFlight)
    if (check !== undefined) for (let i = 0; i < ${BATCH}; i++) check(answers[i])
  }
  position.next = next`

/**
 * Compiles a loop of its own for one contender, as Benchmark.js compiles each test. Closures of one
 * function share V8's type feedback: a loop shared by the six contenders calls each of them through
 * a call site that has seen six libraries, which no application does (a middleware calls its
 * limiter from one site), and that shared cost narrowed every ratio towards 1×.
 */
function compileLoop(batched: boolean): Loop {
  const body = batched ? BATCHED_LOOP : SEQUENTIAL_LOOP
  return new Function('call', 'check', 'keys', 'position', 'n', `return (async () => {${body}\n})()`) as Loop
}

/** n calls over `keys` round-robin; sequential awaits each call, batched keeps BATCH in flight. */
function contender(
  name: string,
  { call, check }: Call,
  keys: readonly string[],
  batched: boolean,
): Contender {
  const loop = compileLoop(batched)
  const position = { next: 0 }
  return { name, run: (n) => loop(call, check, keys, position, n) }
}

function floodgate(policies: Policy[]): Call {
  const limiter = createRateLimiter({ policies, store: memoryStore() })
  return {
    call: (key) => limiter.limit(key),
    check: admitted('Floodgate'),
  }
}

/** Checks that a Decision admitted: every call in this bench must take the admit path. */
function admitted(who: string): (answer: unknown) => void {
  return (d) => {
    if (!(d as Decision).allowed) throw new Error(`${who} denied a request: the benchmark limit is too low`)
  }
}

const FLOODGATE_FIXED = 'floodgate fixedWindow'
const RLF = 'rate-limiter-flexible consume'
const ERL = 'express-rate-limit increment'
const FLOOR = 'reference: least code giving a Decision'

function contenders(keys: readonly string[], batched: boolean): Contender[] {
  const fixed = () => fixedWindow({ name: 'fixed', limit: NEVER_REACHED, window: WINDOW_MS })
  const bucket = () =>
    tokenBucket({ name: 'bucket', capacity: NEVER_REACHED, refillRate: NEVER_REACHED, interval: WINDOW_MS })
  const rlf = new RateLimiterMemory({ points: NEVER_REACHED, duration: WINDOW_MS / 1000 })
  const floor = new DecisionFloor(NEVER_REACHED, WINDOW_MS)
  const erl = new MemoryStore()
  erl.init({ windowMs: WINDOW_MS } as Parameters<MemoryStore['init']>[0])
  const calls: [string, Call][] = [
    [FLOODGATE_FIXED, floodgate([fixed()])],
    [
      'floodgate slidingWindow',
      floodgate([slidingWindow({ name: 'sliding', limit: NEVER_REACHED, window: WINDOW_MS })]),
    ],
    ['floodgate tokenBucket', floodgate([bucket()])],
    ['floodgate tokenBucket + fixedWindow', floodgate([bucket(), fixed()])],
    // rate-limiter-flexible rejects a denied consume, so an awaited call checks itself.
    [RLF, { call: (key) => rlf.consume(key) }],
    [ERL, { call: (key) => erl.increment(key) }],
    [FLOOR, { call: (key) => floor.limit(key), check: admitted('The reference') }],
  ]
  return calls.map(([name, call]) => contender(name, call, keys, batched))
}

function byName(results: readonly Throughput[], name: string): number {
  return results.find((r) => r.name === name)!.opsPerSecond
}

interface Run {
  hot: Throughput[]
  many: Throughput[]
}

function report(title: string, run: Run): void {
  const rows = run.hot.map((h, i) => {
    const m = run.many[i]!
    return [
      h.name,
      formatInt(h.opsPerSecond),
      formatRatio(h.opsPerSecond / byName(run.hot, RLF)),
      formatRatio(h.opsPerSecond / byName(run.hot, ERL)),
      formatInt(m.opsPerSecond),
      formatRatio(m.opsPerSecond / byName(run.many, RLF)),
      formatRatio(m.opsPerSecond / byName(run.many, ERL)),
    ]
  })
  console.log(`### ${title}\n`)
  console.log(
    table(['contender', 'hot key ops/s', '÷ rlf', '÷ erl', '100k keys ops/s', '÷ rlf', '÷ erl'], rows),
  )
  console.log('')
}

function targets(run: Run): void {
  const checks: [string, number, number][] = [
    [
      'fixedWindow ÷ rate-limiter-flexible, hot key',
      byName(run.hot, FLOODGATE_FIXED) / byName(run.hot, RLF),
      2,
    ],
    [
      'fixedWindow ÷ rate-limiter-flexible, 100k keys',
      byName(run.many, FLOODGATE_FIXED) / byName(run.many, RLF),
      2,
    ],
    [
      'fixedWindow ÷ express-rate-limit, 100k keys',
      byName(run.many, FLOODGATE_FIXED) / byName(run.many, ERL),
      1,
    ],
  ]
  console.log('Targets (sequential, one-policy fixed window through limiter.limit()):\n')
  for (const [what, ratio, target] of checks) {
    console.log(
      `- ${what}: ${formatRatio(ratio)} (target ≥ ${target}×) ${ratio >= target ? 'met' : 'MISSED'}`,
    )
  }
  const hot = byName(run.hot, FLOODGATE_FIXED) / byName(run.hot, FLOOR)
  const many = byName(run.many, FLOODGATE_FIXED) / byName(run.many, FLOOR)
  const erl = byName(run.many, ERL) / byName(run.many, FLOOR)
  console.log(
    `\nEach ÷ the reference row (the least code that gives the contract's Decision): fixedWindow ` +
      `${formatRatio(hot)} on the hot key and ${formatRatio(many)} on 100k keys; express-rate-limit's ` +
      `increment ${formatRatio(erl)} on 100k keys (above 1× means faster than the reference).`,
  )
  console.log('')
}

async function measure(batched: boolean): Promise<Run> {
  const options = { rounds: ROUNDS, roundMs: ROUND_MS }
  const many = Array.from({ length: KEY_COUNT }, (_, i) => `user:${i}`)
  const hot = await compare(contenders(['user:hot'], batched), options)
  const manyContenders = contenders(many, batched)
  // Warm-up: every key exists in every contender before timing, so rounds measure steady state.
  for (const c of manyContenders) await c.run(KEY_COUNT)
  return { hot, many: await compare(manyContenders, options) }
}

export const decisionsSection: Section = {
  name: 'decisions',
  description: 'in-process decisions per second, memory stores, hot key and 100k keys round-robin',
  async run() {
    console.log(
      `${ROUNDS} alternating rounds of ~${ROUND_MS} ms per contender; medians. Limits are never reached ` +
        `(limit ${NEVER_REACHED.toExponential()}, window ${WINDOW_MS / 1000} s), so every call takes the admit path.\n`,
    )
    const sequential = await measure(false)
    report('Sequential: each call awaited before the next', sequential)
    targets(sequential)
    report(`Batched: ${BATCH} calls in flight, then Promise.all`, await measure(true))
  },
}
