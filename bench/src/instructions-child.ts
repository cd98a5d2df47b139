// The process that `instructions.ts` runs under valgrind: one contender, `calls` awaited calls on
// one key or on `keys` keys round-robin, then exit. Argument order: contender, keys, calls.
import { createRateLimiter, fixedWindow, memoryStore, slidingWindow, tokenBucket } from '@floodgate/core'
import { MemoryStore } from 'express-rate-limit'
import { RateLimiterMemory } from 'rate-limiter-flexible'
import { DecisionFloor } from './decision-floor.js'

const LIMIT = 2_000_000_000
const WINDOW_MS = 60_000

type Call = (key: string) => Promise<unknown>

const CONTENDERS: Record<string, (keys: readonly string[]) => Promise<Call>> = {
  /** A one-policy fixed window through `limiter.limit()`, the only limiter in the process. */
  floodgate: async () => fixedLimiter(),
  /**
   * The same, after a sliding-window and a token-bucket limiter have run in the process too, as in
   * `pnpm bench decisions`: the memory store's call sites have then seen three slot classes.
   */
  'floodgate-mixed': async (keys) => {
    const call = fixedLimiter()
    const others: Call[] = [
      limiterCall([slidingWindow({ name: 'sliding', limit: LIMIT, window: WINDOW_MS })]),
      limiterCall([tokenBucket({ name: 'bucket', capacity: LIMIT, refillRate: LIMIT, interval: WINDOW_MS })]),
    ]
    for (let round = 0; round < 3; round++) {
      for (const c of [call, ...others]) await loop(c, keys, 30_000)
    }
    return call
  },
  /** A two-policy request (a token bucket and a fixed window, all or nothing), alone in the process. */
  'floodgate-two-policies': async () =>
    limiterCall([
      tokenBucket({ name: 'bucket', capacity: LIMIT, refillRate: LIMIT, interval: WINDOW_MS }),
      fixedWindow({ name: 'fixed', limit: LIMIT, window: WINDOW_MS }),
    ]),
  reference: async () => {
    const floor = new DecisionFloor(LIMIT, WINDOW_MS)
    return (key) => floor.limit(key)
  },
  'express-rate-limit': async () => {
    const store = new MemoryStore()
    store.init({ windowMs: WINDOW_MS } as Parameters<MemoryStore['init']>[0])
    return (key) => store.increment(key)
  },
  'rate-limiter-flexible': async () => {
    const limiter = new RateLimiterMemory({ points: LIMIT, duration: WINDOW_MS / 1000 })
    return (key) => limiter.consume(key)
  },
}

function fixedLimiter(): Call {
  return limiterCall([fixedWindow({ name: 'fixed', limit: LIMIT, window: WINDOW_MS })])
}

function limiterCall(policies: Parameters<typeof createRateLimiter>[0]['policies']): Call {
  const limiter = createRateLimiter({ policies, store: memoryStore() })
  return (key) => limiter.limit(key)
}

async function loop(call: Call, keys: readonly string[], calls: number): Promise<void> {
  let next = 0
  for (let i = 0; i < calls; i++) {
    await call(keys[next]!)
    next = next + 1 === keys.length ? 0 : next + 1
  }
}

async function main(): Promise<void> {
  const [name = '', keyCount = '1', calls = '0'] = process.argv.slice(2)
  const make = CONTENDERS[name]
  if (make === undefined) {
    throw new Error(`Unknown contender "${name}"; known: ${Object.keys(CONTENDERS).join(', ')}`)
  }
  const keys = Array.from({ length: Number(keyCount) }, (_, i) => `user:${i}`)
  await loop(await make(keys), keys, Number(calls))
}

await main()
