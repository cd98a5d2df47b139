// Runs in a fresh process per contender (see memory.ts): heap bytes per key after inserting KEY_COUNT keys.

import { fileURLToPath } from 'node:url'
import { createRateLimiter, fixedWindow, memoryStore, slidingWindow, tokenBucket } from '@floodgate/core'
import { MemoryStore } from 'express-rate-limit'
import { RateLimiterMemory } from 'rate-limiter-flexible'

export const KEY_COUNT = 1_000_000
/** An epoch-aligned instant, so every key lands in one window while the store fills. */
const FIXED_NOW_MS = 1_700_000_000_000

type Insert = (key: string) => Promise<unknown>

/** Builds a contender; the returned object stays referenced until the heap is measured. */
const CONTENDERS: Record<string, () => { insert: Insert; keep: unknown }> = {
  'floodgate fixedWindow': () => floodgate(fixedWindow({ limit: 100, window: '1 m' })),
  'floodgate slidingWindow': () => floodgate(slidingWindow({ limit: 100, window: '1 m' })),
  'floodgate tokenBucket': () => floodgate(tokenBucket({ capacity: 100, refillRate: 100, interval: '1 m' })),
  'rate-limiter-flexible RateLimiterMemory': () => {
    const limiter = new RateLimiterMemory({ points: 100, duration: 60 })
    return { insert: (key) => limiter.consume(key), keep: limiter }
  },
  'express-rate-limit MemoryStore': () => {
    const store = new MemoryStore()
    store.init({ windowMs: 60_000 } as Parameters<MemoryStore['init']>[0])
    return { insert: (key) => store.increment(key), keep: store }
  },
}

export const MEMORY_CONTENDERS = Object.keys(CONTENDERS)

function floodgate(policy: Parameters<typeof createRateLimiter>[0]['policies']) {
  // A fixed clock: a window passing mid-fill would free keys and flatter the figure.
  const store = memoryStore({ clock: () => FIXED_NOW_MS, maxKeys: KEY_COUNT })
  const limiter = createRateLimiter({ policies: policy, store })
  return {
    insert: async (key: string) => {
      const d = await limiter.limit(key)
      if (!d.allowed) throw new Error(`denied ${key}`)
    },
    keep: store,
  }
}

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc')
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

export interface MemoryResult {
  name: string
  /** Heap growth per key after inserting, key strings excluded (they exist before the baseline). */
  storeBytesPerKey: number
  /** Heap per key string and its array slot, measured in the same process: add it for a total. */
  keyBytesPerKey: number
  /** The store's own size report, where it has one (Floodgate), to confirm every key is held. */
  heldKeys: number | undefined
}

async function measure(name: string): Promise<MemoryResult> {
  const make = CONTENDERS[name]
  if (make === undefined) throw new Error(`unknown contender ${name}`)
  const empty = heapUsed()
  const keys = Array.from({ length: KEY_COUNT }, (_, i) => `user:${i}`)
  const withKeys = heapUsed()
  const contender = make()
  const before = heapUsed()
  for (const key of keys) await contender.insert(key)
  const after = heapUsed()
  const held = (contender.keep as { size?: unknown }).size
  return {
    name,
    storeBytesPerKey: (after - before) / KEY_COUNT,
    keyBytesPerKey: (withKeys - empty) / KEY_COUNT,
    heldKeys: typeof held === 'number' ? held : undefined,
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await measure(process.argv[2] ?? '')
  process.stdout.write(`${JSON.stringify(result)}\n`)
  // rate-limiter-flexible's per-key timers and express-rate-limit's interval would keep us alive.
  process.exit(0)
}
