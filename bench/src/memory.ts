// Heap bytes per key at 1,000,000 keys: each contender in a fresh child process, so one's heap
// (and rate-limiter-flexible's million timers) cannot weigh on another's figure.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { formatInt, table } from './harness.js'
import { KEY_COUNT, MEMORY_CONTENDERS, type MemoryResult } from './memory-child.js'
import type { Section } from './section.js'

const run = promisify(execFile)
const CHILD = fileURLToPath(new URL('./memory-child.ts', import.meta.url))
const TARGET_BYTES_PER_KEY = 150

async function inChild(name: string): Promise<MemoryResult> {
  // execArgv carries --import tsx and --expose-gc from `pnpm bench`.
  const flags = process.execArgv.includes('--expose-gc')
    ? process.execArgv
    : [...process.execArgv, '--expose-gc']
  const { stdout } = await run(process.execPath, [...flags, CHILD, name], { maxBuffer: 1 << 20 })
  return JSON.parse(stdout.trim().split('\n').pop()!) as MemoryResult
}

export const memorySection: Section = {
  name: 'memory',
  description: `heap bytes per key at ${formatInt(KEY_COUNT)} keys, one fresh process per contender`,
  async run() {
    const results: MemoryResult[] = []
    for (const name of MEMORY_CONTENDERS) results.push(await inChild(name))
    const key = results[0]!.keyBytesPerKey
    console.log(
      `Keys \`user:0\` … \`user:999999\` are built before the baseline and kept by the caller, so the ` +
        `"store" column excludes them for every contender alike; a key string and its array slot ` +
        `take about ${Math.round(key)} bytes more (the "with key" column adds it).\n`,
    )
    const fixed = results.find((r) => r.name === 'floodgate fixedWindow')!.storeBytesPerKey
    console.log(
      table(
        ['contender', 'store bytes/key', 'with key bytes/key', 'this ÷ floodgate fixed'],
        results.map((r) => [
          r.heldKeys === undefined ? r.name : `${r.name} (${formatInt(r.heldKeys)} keys held)`,
          formatInt(r.storeBytesPerKey),
          formatInt(r.storeBytesPerKey + r.keyBytesPerKey),
          `${(r.storeBytesPerKey / fixed).toFixed(2)}×`,
        ]),
      ),
    )
    const met = fixed <= TARGET_BYTES_PER_KEY
    console.log(
      `\nTarget: floodgate fixedWindow ≤ ${TARGET_BYTES_PER_KEY} bytes/key: ${formatInt(fixed)} ${met ? 'met' : 'MISSED'}`,
    )
  },
}
