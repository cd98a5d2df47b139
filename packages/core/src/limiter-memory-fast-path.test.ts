import { describe, expect, it } from 'vitest'
import type { Decision } from './decision.js'
import { createRateLimiter, type RateLimiter } from './limiter.js'
import { fixedWindow } from './policies/fixed-window.js'
import { slidingWindow } from './policies/sliding-window.js'
import { tokenBucket } from './policies/token-bucket.js'
import type { Policy } from './policies/types.js'
import type { RateLimitStore } from './store.js'
import { memoryStore } from './stores/memory-store.js'
import { manualClock } from './testing/manual-clock.js'
import { referenceModel } from './testing/reference-model.js'

// The limiter takes its own paths into a store made by memoryStore(): `decideOne` for one-policy
// requests, `decideSeveral` for several. Their decisions must equal the limiter's generic path
// (`consume`, then `decision()`) over the reference model, tier changes included; with maxKeys,
// which the model does not bound, over a memory store the limiter cannot recognise.

const START_MS = 1_999_987_200_000
const WINDOW_MS = 10_000

/** A memory store hidden behind a plain object, so the limiter cannot recognise it. */
function wrapped(store: RateLimitStore): RateLimitStore {
  return {
    name: 'wrapped-memory',
    local: true,
    consume: (request) => store.consume(request),
    reset: (request) => store.reset(request),
    close: () => store.close(),
  }
}

/** The reference model as a store, on `clock`. */
function referenceStore(clock: () => number): RateLimitStore {
  const model = referenceModel()
  return {
    name: 'reference',
    local: true,
    consume: (request) => model.consume(request, clock()),
    reset: (request) => model.reset(request),
    close: () => {},
  }
}

/** Deterministic pseudo-random integers in [0, n) (a linear congruential generator). */
function randomInts(seed: number): (n: number) => number {
  let state = seed >>> 0
  return (n) => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0
    return state % n
  }
}

/** A decision without what a store failure stamps from the wall clock. */
function comparable(decision: Decision): unknown {
  if (decision.reason !== 'store-error') return decision
  return { allowed: decision.allowed, reason: decision.reason, code: decision.error?.code }
}

const KINDS: Record<string, (limit: number) => Policy[]> = {
  'fixed window': (limit) => [fixedWindow({ name: 'p', limit, window: WINDOW_MS })],
  'sliding window': (limit) => [slidingWindow({ name: 'p', limit, window: WINDOW_MS })],
  'token bucket': (limit) => [
    tokenBucket({ name: 'p', capacity: limit, refillRate: 3, interval: WINDOW_MS }),
  ],
  // All or nothing: each of the three denies some requests the others would admit.
  'three-policy (all or nothing)': (limit) => [
    fixedWindow({ name: 'f', limit: limit + 2, window: WINDOW_MS }),
    slidingWindow({ name: 's', limit, window: WINDOW_MS * 2 }),
    tokenBucket({ name: 'b', capacity: limit + 1, refillRate: 2, interval: WINDOW_MS / 2 }),
  ],
}

interface Variant {
  shadow?: boolean
  maxKeys?: number
}

interface Pair {
  fast: RateLimiter
  generic: RateLimiter
  clock: ReturnType<typeof manualClock>
}

function pair(make: (limit: number) => Policy[], variant: Variant): Pair {
  const clock = manualClock(START_MS)
  const build = (store: RateLimitStore) =>
    createRateLimiter({
      tiers: { free: make(4), pro: make(9) },
      defaultTier: 'free',
      store,
      mode: variant.shadow ? 'shadow' : 'enforce',
      logger: false,
    })
  return {
    fast: build(memoryStore({ clock, maxKeys: variant.maxKeys })),
    generic: build(
      variant.maxKeys === undefined
        ? referenceStore(clock)
        : wrapped(memoryStore({ clock, maxKeys: variant.maxKeys })),
    ),
    clock,
  }
}

const VARIANTS: [string, Variant][] = [
  ['enforcing', {}],
  ['in shadow mode', { shadow: true }],
  ['with maxKeys 3 (evictions and a full store)', { maxKeys: 3 }],
]

describe('limiter on its own memory store', () => {
  for (const [kind, make] of Object.entries(KINDS)) {
    for (const [variantName, variant] of VARIANTS) {
      it(`gives the ${kind} decisions of the generic path, ${variantName}`, async () => {
        const { fast, generic, clock } = pair(make, variant)
        const random = randomInts(kind.length * 31 + variantName.length)
        const reasons = new Set<string>()
        for (let step = 0; step < 3_000; step++) {
          const roll = random(20)
          if (roll === 0) clock.advance(random(WINDOW_MS))
          else if (roll === 1) clock.advance(WINDOW_MS - (clock() % WINDOW_MS) - random(2))
          const id = `user:${random(6)}`
          if (roll === 2) {
            await fast.reset(id)
            await generic.reset(id)
            continue
          }
          const options = { cost: 1 + random(11), tier: random(3) === 0 ? 'pro' : undefined }
          const peek = random(8) === 0
          const a = await (peek ? fast.peek(id, options) : fast.limit(id, options))
          const b = await (peek ? generic.peek(id, options) : generic.limit(id, options))
          expect(comparable(a), `step ${step}`).toEqual(comparable(b))
          reasons.add(a.reason)
        }
        // The script reaches every reason the variant can give.
        const expected = variant.shadow
          ? ['allowed', 'shadow-limited']
          : ['allowed', 'limited', 'cost-exceeds-limit']
        for (const reason of expected) expect(reasons).toContain(reason)
        if (variant.maxKeys !== undefined) expect(reasons).toContain('store-error')
      })
    }
  }
})

describe('a limiter on a memory store it was given', () => {
  it('asks the store itself every time, denyCache on or not: a denial ends when the store clock says so', async () => {
    const clock = manualClock(START_MS)
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 1, window: WINDOW_MS }),
      store: memoryStore({ clock }),
      denyCache: true,
      logger: false,
    })
    expect((await limiter.limit('a')).allowed).toBe(true)
    expect((await limiter.limit('a')).allowed).toBe(false)
    clock.advance(WINDOW_MS)
    expect(await limiter.limit('a')).toMatchObject({ allowed: true, reason: 'allowed' })
  })
})
