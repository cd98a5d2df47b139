import { describe, expect, it, vi } from 'vitest'
import type { Decision } from './decision.js'
import { DenyCache, resolveDenyCache, tiersUnsafeToCache } from './deny-cache.js'
import { isFloodgateError } from './errors.js'
import { createRateLimiter } from './limiter.js'
import { fixedWindow } from './policies/fixed-window.js'
import { tokenBucket } from './policies/token-bucket.js'
import type { Policy } from './policies/types.js'
import type { RateLimitStore, StoreResponse } from './store.js'
import { memoryStore } from './stores/memory-store.js'
import { seededRandom } from './testing/cases-traces.js'
import { manualClock } from './testing/manual-clock.js'

function denial(retryAfterMs: number, cost = 1, limit = 10): Decision {
  return {
    allowed: false,
    limit,
    remaining: 0,
    resetAtMs: 5_000,
    retryAfterMs,
    policy: 'p',
    tier: undefined,
    reason: 'limited',
    cost,
    nowMs: 1_000,
    policies: [
      {
        name: 'p',
        kind: 'fixed-window',
        limit,
        windowMs: 5_000,
        allowed: false,
        remaining: 0,
        resetAtMs: 5_000,
        retryAfterMs,
      },
    ],
  }
}

describe('DenyCache', () => {
  it('answers a denied identifier until 1 ms before its retry time, counted from when the request was sent', () => {
    let now = 100
    const cache = new DenyCache(10, () => now)
    cache.remember(undefined, 'a', denial(400), 100)
    now = 498.9
    // 1.1 ms left: waits round up, the store's time (at most 398.9 ms on) rounds down, so the
    // answer and its policy give the same wait, ending at the instant the store gave (1,400).
    const answer = cache.get(undefined, 'a', 1)!
    expect(answer).toMatchObject({ allowed: false, retryAfterMs: 2, nowMs: 1_398 })
    expect(answer.policies[0]!.retryAfterMs).toBe(2)
    // A timer of 400 ms may fire here, a fraction of a millisecond early on this clock (it counts
    // from the event loop's whole-millisecond time): the store, which would admit, answers.
    now = 499
    expect(cache.get(undefined, 'a', 1)).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it("lets one tier's entry run out without dropping the identifier's denials in other tiers", () => {
    let now = 0
    const cache = new DenyCache(10, () => now)
    cache.remember('read', 'a', { ...denial(400), tier: 'read' }, 0)
    cache.remember('write', 'a', { ...denial(900), tier: 'write' }, 0)
    now = 500
    expect(cache.get('read', 'a', 1)).toBeUndefined()
    expect(cache.get('write', 'a', 1)).toMatchObject({ tier: 'write', retryAfterMs: 400 })
    expect(cache.size).toBe(1)
    // And once the last tier's entry runs out, the identifier goes too.
    now = 900
    expect(cache.get('write', 'a', 1)).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it("counts each denying policy's own wait down by the time since the request was sent", () => {
    let now = 0
    const cache = new DenyCache(10, () => now)
    cache.remember(undefined, 'a', denial(400), 0)
    // Asked again at the very instant: the decision as the store gave it.
    expect(cache.get(undefined, 'a', 1)).toMatchObject({ retryAfterMs: 400, nowMs: 1_000 })
    expect(cache.get(undefined, 'a', 1)!.policies[0]).toMatchObject({ retryAfterMs: 400 })
    now = 150
    const answer = cache.get(undefined, 'a', 1)!
    expect(answer).toMatchObject({ retryAfterMs: 250, nowMs: 1_150 })
    expect(answer.policies[0]).toMatchObject({ allowed: false, retryAfterMs: 250, resetAtMs: 5_000 })
  })

  it('with the default clock, also ends an entry by the wall clock, should the monotonic one stop', () => {
    // A virtual machine paused or restored from a snapshot may stop the monotonic clock while time
    // (and the store's clock) goes on: the wall clock ends the entry then.
    let monotonic = 5_000
    let wall = 1_700_000_000_000
    vi.spyOn(performance, 'now').mockImplementation(() => monotonic)
    vi.spyOn(Date, 'now').mockImplementation(() => wall)
    try {
      const cache = new DenyCache(10)
      cache.remember(undefined, 'a', denial(400), 5_000)
      wall += 398
      expect(cache.get(undefined, 'a', 1)).toMatchObject({ allowed: false })
      wall += 1 // 399 ms on the wall clock, none on the monotonic one
      expect(cache.get(undefined, 'a', 1)).toBeUndefined()
      // And the monotonic clock alone ends it as before.
      cache.remember(undefined, 'b', denial(400), 5_000)
      monotonic += 399
      expect(cache.get(undefined, 'b', 1)).toBeUndefined()
      // A reply that came 50 ms after its request: the wall clock counts from the sending too.
      cache.remember(undefined, 'c', denial(400), monotonic - 50)
      wall += 348
      expect(cache.get(undefined, 'c', 1)).toMatchObject({ allowed: false })
      wall += 1
      expect(cache.get(undefined, 'c', 1)).toBeUndefined()
    } finally {
      vi.restoreAllMocks()
    }
  })

  it('answers the cost it saw denied, and sends any other cost to the store (which alone knows its wait)', () => {
    const cache = new DenyCache(10, () => 0)
    cache.remember(undefined, 'a', denial(400, 3, 10), 0)
    expect(cache.get(undefined, 'a', 2)).toBeUndefined()
    expect(cache.get(undefined, 'a', 3)).toMatchObject({ cost: 3 })
    expect(cache.get(undefined, 'a', 4)).toBeUndefined()
    expect(cache.get(undefined, 'a', 11)).toBeUndefined()
  })

  it('does not remember a denial sent before a reset that comes back after it', () => {
    let now = 0
    const cache = new DenyCache(10, () => now)
    now = 10
    cache.forget('a')
    cache.remember(undefined, 'a', denial(400), 10)
    cache.remember(undefined, 'a', denial(400), 9)
    expect(cache.get(undefined, 'a', 1)).toBeUndefined()
    now = 11
    cache.remember(undefined, 'a', denial(400), 11)
    expect(cache.get(undefined, 'a', 1)).toBeDefined()
    // A reset of another identifier changes nothing for this one.
    cache.forget('b')
    cache.remember(undefined, 'c', denial(400), 5)
    expect(cache.get(undefined, 'c', 1)).toBeDefined()
  })

  it('keeps tiers and identifiers apart', () => {
    const cache = new DenyCache(10, () => 0)
    cache.remember('free', 'a', denial(400), 0)
    expect(cache.get('pro', 'a', 1)).toBeUndefined()
    expect(cache.get(undefined, 'a', 1)).toBeUndefined()
    expect(cache.get('free', 'b', 1)).toBeUndefined()
    expect(cache.get('free', 'a', 1)).toBeDefined()
    // A tier name ending like another pair's prefix must not alias it.
    cache.remember('1:x', 'y', denial(400), 0)
    expect(cache.get('1', 'x\u00001:xy', 1)).toBeUndefined()
  })

  it('remembers only limited decisions with a finite wait', () => {
    const cache = new DenyCache(10, () => 0)
    cache.remember(
      undefined,
      'never',
      { ...denial(Number.POSITIVE_INFINITY), reason: 'cost-exceeds-limit' },
      0,
    )
    cache.remember(undefined, 'shadow', { ...denial(400), allowed: true, reason: 'shadow-limited' }, 0)
    cache.remember(undefined, 'error', { ...denial(0), allowed: false, reason: 'store-error' }, 0)
    // A custom store's denial that gives no wait: nothing to answer, so no entry to evict another.
    cache.remember(undefined, 'no-wait', denial(0), 0)
    // Nor one that gives no time at all (a deny list's): it may be lifted at any moment.
    cache.remember(undefined, 'listed', denial(Number.POSITIVE_INFINITY), 0)
    expect(cache.size).toBe(0)
    // Nor does such an answer drop a denial remembered for the identifier: only an admission does.
    cache.remember(undefined, 'a', denial(400), 0)
    cache.remember(
      undefined,
      'a',
      { ...denial(Number.POSITIVE_INFINITY, 20), reason: 'cost-exceeds-limit' },
      0,
    )
    expect(cache.get(undefined, 'a', 1)).toMatchObject({ reason: 'limited' })
  })

  it("replaces a tier's entry with a later denial of another cost, which it then answers", () => {
    let now = 0
    const cache = new DenyCache(10, () => now)
    cache.remember(undefined, 'a', denial(400, 1), 0)
    now = 10
    expect(cache.get(undefined, 'a', 3)).toBeUndefined()
    cache.remember(undefined, 'a', denial(700, 3), 10)
    expect(cache.get(undefined, 'a', 3)).toMatchObject({ cost: 3, retryAfterMs: 700 })
    expect(cache.get(undefined, 'a', 1)).toBeUndefined()
    expect(cache.size).toBe(1)
  })

  it('holds at most maxEntries, dropping the oldest first', () => {
    const cache = new DenyCache(2, () => 0)
    cache.remember(undefined, 'a', denial(400), 0)
    cache.remember(undefined, 'b', denial(400), 0)
    cache.remember(undefined, 'c', denial(400), 0)
    expect(cache.size).toBe(2)
    expect(cache.get(undefined, 'a', 1)).toBeUndefined()
    expect(cache.get(undefined, 'b', 1)).toBeDefined()
    expect(cache.get(undefined, 'c', 1)).toBeDefined()
  })

  it('lets go of its drop iterator after maxEntries deletions elsewhere and on clear, and bounds its reset records', () => {
    // The iterator holds the table it started on, and each table V8 rebuilds after it: held for
    // good, that chain grows without bound (see `deleted`).
    const holdsIterator = (cache: DenyCache) => Reflect.get(cache, 'oldest') !== undefined
    const cache = new DenyCache(3, () => 0)
    for (const id of ['a', 'b', 'c', 'd']) cache.remember(undefined, id, denial(400), 0)
    expect(holdsIterator(cache)).toBe(true) // 'a' dropped for 'd'
    cache.forget('b')
    cache.remember(undefined, 'c', denial(500), 0) // moved to the end: a deletion too
    expect(holdsIterator(cache)).toBe(true)
    cache.remember(undefined, 'd', { ...denial(0), allowed: true, reason: 'allowed' }, 0)
    expect(holdsIterator(cache)).toBe(false)
    for (const id of ['e', 'f', 'g']) cache.remember(undefined, id, denial(400), 0)
    expect(holdsIterator(cache)).toBe(true)
    cache.clear()
    expect(holdsIterator(cache)).toBe(false)
    // A reset is remembered per identifier (to refuse denials sent before it), as many as maxEntries.
    for (let i = 0; i < 10; i++) {
      cache.forget(`reset-${i}`)
      expect((Reflect.get(cache, 'forgottenAt') as Map<string, number>).size).toBeLessThanOrEqual(3)
    }
  })

  it('drops the oldest identifier, however others were moved, admitted, forgotten or cleared meanwhile', () => {
    // Against a model: the identifiers in the order last denied, the oldest dropped first.
    for (let seed = 1; seed <= 20; seed++) {
      const random = seededRandom(seed)
      const max = 1 + Math.floor(random() * 20)
      // A denial sent after a forget (`sentAt` later than it) is remembered.
      let now = 0
      const cache = new DenyCache(max, () => now)
      let model: string[] = []
      for (let step = 0; step < 2_000; step++) {
        now += 0.001
        const id = `id${Math.floor(random() * 40)}`
        const roll = random()
        if (roll < 0.7) {
          cache.remember(undefined, id, denial(400), now)
          model = model.filter((m) => m !== id)
          while (model.length >= max) model.shift()
          model.push(id)
        } else if (roll < 0.85) {
          cache.remember(undefined, id, { ...denial(400), allowed: true, reason: 'allowed' }, now)
          model = model.filter((m) => m !== id)
        } else if (roll < 0.99) {
          cache.forget(id)
          model = model.filter((m) => m !== id)
        } else {
          cache.clear()
          model = []
        }
        expect(cache.size).toBe(model.length)
      }
      const held = Array.from({ length: 40 }, (_, i) => `id${i}`).filter((id) => cache.get(undefined, id, 1))
      expect(held.sort()).toEqual([...model].sort())
    }
  })

  it('forgets an identifier in every tier', () => {
    const cache = new DenyCache(10, () => 0)
    cache.remember('free', 'a', denial(400), 0)
    cache.remember('pro', 'a', denial(400), 0)
    cache.remember('pro', 'b', denial(400), 0)
    cache.forget('a')
    expect(cache.size).toBe(1)
  })
})

describe('DenyCache entries', () => {
  it("drops an identifier's denial when a request of it is admitted (the wait it recorded may be longer now)", () => {
    const cache = new DenyCache(10, () => 0)
    cache.remember(undefined, 'a', denial(400, 2), 0)
    cache.remember(undefined, 'a', { ...denial(0), allowed: true, reason: 'allowed' }, 0)
    expect(cache.get(undefined, 'a', 2)).toBeUndefined()
  })

  it('answers only until the first instant its decision would read differently', () => {
    let now = 0
    const cache = new DenyCache(10, () => now)
    const base = denial(60_000)
    const part = base.policies[0]!
    // A second policy denying for 1 ms only, and an admitting window that ends in 300 ms.
    cache.remember(
      undefined,
      'short',
      { ...base, policies: [part, { ...part, name: 'q', retryAfterMs: 2 }] },
      0,
    )
    cache.remember(
      undefined,
      'window',
      { ...base, policies: [part, { ...part, name: 'q', allowed: true, remaining: 3, resetAtMs: 1_300 }] },
      0,
    )
    expect(cache.get(undefined, 'short', 1)).toBeDefined()
    expect(cache.get(undefined, 'window', 1)).toBeDefined()
    now = 1
    expect(cache.get(undefined, 'short', 1)).toBeUndefined()
    now = 298
    expect(cache.get(undefined, 'window', 1)).toMatchObject({ retryAfterMs: 59_702 })
    now = 299
    expect(cache.get(undefined, 'window', 1)).toBeUndefined()
  })

  it('keeps a denial per tier of one identifier, so tiers that alternate are both answered', () => {
    const cache = new DenyCache(10, () => 0)
    cache.remember('read', 'a', { ...denial(400), tier: 'read' }, 0)
    cache.remember('write', 'a', { ...denial(900), tier: 'write' }, 0)
    expect(cache.size).toBe(1)
    expect(cache.get('read', 'a', 1)).toMatchObject({ tier: 'read', retryAfterMs: 400 })
    expect(cache.get('write', 'a', 1)).toMatchObject({ tier: 'write', retryAfterMs: 900 })
    cache.remember('read', 'a', { ...denial(0), allowed: true, reason: 'allowed', tier: 'read' }, 0)
    expect(cache.get('write', 'a', 1)).toBeUndefined()
  })

  it("gives an admitting policy's reset instant no earlier than the answer's nowMs", () => {
    let now = 0
    const cache = new DenyCache(10, () => now)
    const base = denial(60_000)
    const full = { ...base.policies[0]!, name: 'burst', allowed: true, remaining: 3, resetAtMs: base.nowMs }
    cache.remember(undefined, 'a', { ...base, policies: [base.policies[0]!, full] }, 0)
    now = 5_000
    const answer = cache.get(undefined, 'a', 1)!
    expect(answer.policies[1]).toMatchObject({ name: 'burst', resetAtMs: answer.nowMs })
  })

  it('never answers tiers whose token bucket another tier sizes differently', () => {
    const bucket = (capacity: number, refillRate = 1) =>
      tokenBucket({ name: 'b', capacity, refillRate, interval: '1 s' })
    const day = fixedWindow({ name: 'day', limit: 100, window: '1 d' })
    const tiers = (entries: [string, Policy[]][]) => tiersUnsafeToCache(new Map(entries))
    expect([
      ...tiers([
        ['free', [bucket(1), day]],
        ['pro', [bucket(6), day]],
        ['ops', [day]],
      ]),
    ]).toEqual(['free', 'pro'])
    expect([
      ...tiers([
        ['free', [bucket(2, 1)]],
        ['pro', [bucket(2, 5)]],
      ]),
    ]).toEqual(['free', 'pro'])
    expect([
      ...tiers([
        ['free', [bucket(2), day]],
        ['pro', [bucket(2), fixedWindow({ name: 'day', limit: 9, window: '1 d' })]],
      ]),
    ]).toEqual([])
    const cache = new DenyCache(10, () => 0, new Set(['pro']))
    cache.remember('pro', 'a', denial(400), 0)
    cache.remember('free', 'b', denial(400), 0)
    expect(cache.get('pro', 'a', 1)).toBeUndefined()
    expect(cache.get('free', 'b', 1)).toBeDefined()
  })
})

describe('the denyCache option', () => {
  it('is on by default for a remote store and off for a local one', () => {
    expect(resolveDenyCache(undefined, false)).toBeInstanceOf(DenyCache)
    expect(resolveDenyCache(undefined, false)?.maxEntries).toBe(10_000)
    expect(resolveDenyCache(true, true)?.maxEntries).toBe(10_000)
    expect(resolveDenyCache(undefined, true)).toBeUndefined()
    expect(resolveDenyCache(false, false)).toBeUndefined()
    expect(resolveDenyCache({ maxEntries: 5 }, true)?.maxEntries).toBe(5)
  })

  it('rejects a bad bound or an unknown option', () => {
    for (const bad of [
      { maxEntries: 0 },
      { maxEntries: 1.5 },
      { maxEntries: null },
      { maxEntry: 3 },
      { clock: 5 },
      'yes',
    ]) {
      let caught: unknown
      try {
        resolveDenyCache(bad, false)
      } catch (error) {
        caught = error
      }
      expect(isFloodgateError(caught)).toBe(true)
    }
  })
})

describe('the deny cache in a limiter', () => {
  /**
   * A remote store (not `local`) that answers at once, from memory, counting its calls; `another()`
   * is a second store object on the same counters and count (another process's).
   */
  const countingStore = (clock: () => number = () => 1_700_000_000_000) => {
    const counters = memoryStore({ clock })
    const counted = { calls: 0 }
    const another = (): RateLimitStore => ({
      name: 'at-once',
      local: false,
      consume: (request) => {
        counted.calls += 1
        return counters.consume(request)
      },
      reset: (request) => counters.reset(request),
      close: () => undefined,
    })
    return { store: another(), another, counted }
  }

  it('remembers the denials of a remote store that answers at once, and is never made for the memory store', async () => {
    const { store, counted } = countingStore()
    const policies = fixedWindow({ limit: 1, window: '1 d' })
    const remote = createRateLimiter({ policies, store })
    expect((await remote.limit('u')).allowed).toBe(true)
    expect((await remote.limit('u')).reason).toBe('limited')
    expect((await remote.limit('u')).reason).toBe('limited')
    expect(counted.calls).toBe(2) // the third answer came from the cache
    expect(remote.config.denyCache?.size).toBe(1)
    // The memory store looks the identifier up as fast as the cache would: asked for, it is not made.
    for (const denyCache of [true, { maxEntries: 5 }] as const) {
      expect(
        createRateLimiter({ policies, store: memoryStore(), denyCache }).config.denyCache,
      ).toBeUndefined()
      expect(createRateLimiter({ policies, denyCache }).config.denyCache).toBeUndefined()
    }
  })

  it('never answers tiers whose token bucket another tier sizes differently, however the option is given', async () => {
    // Another process (a second limiter on the same counters) charges under the faster-refilling
    // tier, measuring the tokens at its own rate: the slower tier's bucket is then full long before
    // its denial said. Only the store knows that, so the slower tier's denial is not kept.
    for (const denyCache of [undefined, true, {}] as const) {
      const clock = manualClock(1_700_000_000_000)
      const { store, another, counted } = countingStore(clock)
      const tiers = {
        free: [tokenBucket({ name: 'b', capacity: 10, refillRate: 1, interval: 300 })],
        pro: [tokenBucket({ name: 'b', capacity: 10, refillRate: 5, interval: 300 })],
      }
      const here = createRateLimiter({ tiers, defaultTier: 'free', store, denyCache })
      const elsewhere = createRateLimiter({ tiers, defaultTier: 'free', store: another(), denyCache: false })
      const free = { tier: 'free', cost: 10 }
      expect((await here.limit('u', free)).allowed).toBe(true)
      expect(await here.limit('u', free)).toMatchObject({ reason: 'limited', retryAfterMs: 3_000 })
      clock.advance(300)
      // 5 tokens at the pro rate, 1 taken: 4 left, where the free rate would have refilled 1.
      expect(await elsewhere.limit('u', { tier: 'pro' })).toMatchObject({ allowed: true, remaining: 4 })
      // 6 more tokens at the free rate: full, 1.1 s before the free denial's retry time.
      clock.advance(1_800)
      const calls = counted.calls
      expect(await here.limit('u', free), `denyCache: ${JSON.stringify(denyCache)}`).toMatchObject({
        allowed: true,
        remaining: 0,
      })
      expect(counted.calls).toBe(calls + 1)
      await here.close()
      await elsewhere.close()
    }
  })

  it("answers a repeat denial in a tier from the cache, and sends another tier's request to the store", async () => {
    for (const answersThroughPromise of [false, true]) {
      const { store, counted } = countingStore()
      const limiter = createRateLimiter({
        tiers: {
          free: fixedWindow({ name: 'api', limit: 1, window: '1 d' }),
          pro: fixedWindow({ name: 'api', limit: 2, window: '1 d' }),
        },
        defaultTier: 'free',
        store: answersThroughPromise
          ? { ...store, consume: (request) => Promise.resolve(store.consume(request)) }
          : store,
      })
      const free = { tier: 'free' }
      expect((await limiter.limit('u', free)).allowed).toBe(true)
      expect(await limiter.limit('u', free)).toMatchObject({ reason: 'limited', tier: 'free' })
      expect(await limiter.limit('u', free)).toMatchObject({ reason: 'limited', tier: 'free' })
      expect(counted.calls).toBe(2) // the third answer came from the cache
      // The pro tier's limit is not the one that denied: the store decides.
      expect(await limiter.limit('u', { tier: 'pro' })).toMatchObject({
        allowed: true,
        tier: 'pro',
        remaining: 0,
      })
      expect(counted.calls).toBe(3)
    }
  })

  it('answers a cached denial as a promise, and never answers peek from the cache', async () => {
    const { store, counted } = countingStore()
    const remote = createRateLimiter({ policies: fixedWindow({ limit: 1, window: '1 d' }), store })
    await remote.limit('u')
    expect((await remote.limit('u')).reason).toBe('limited')
    expect(counted.calls).toBe(2)
    const cached = remote.limit('u')
    expect(cached).toBeInstanceOf(Promise)
    expect(await cached).toMatchObject({ allowed: false, reason: 'limited' })
    expect(counted.calls).toBe(2)
    // peek asks the store, which alone knows the counters now.
    expect(await remote.peek('u')).toMatchObject({ allowed: false, remaining: 0 })
    expect(counted.calls).toBe(3)
  })

  it('checks the option in shadow mode too, where it is not used', () => {
    const store: RateLimitStore = {
      name: 'r',
      local: false,
      consume: () => ({ nowMs: 0, outcomes: [] }),
      reset: () => {},
      close: () => {},
    }
    const options = { policies: fixedWindow({ limit: 1, window: '1 d' }), store, mode: 'shadow' } as const
    expect(createRateLimiter({ ...options, denyCache: { maxEntries: 5 } }).config.denyCache).toBeUndefined()
    expect(() => createRateLimiter({ ...options, denyCache: { maxEntries: 0 } })).toThrow(
      /ERR_FLOODGATE_INVALID_OPTION/,
    )
  })

  it('keeps no denial that was decided before a reset and answered after it', async () => {
    const counters = memoryStore({ clock: () => 1_700_000_000_000 })
    const held: (() => void)[] = []
    // A remote store whose answers arrive when the test lets them.
    const store: RateLimitStore = {
      name: 'slow',
      local: false,
      consume: (request) => {
        const response = counters.consume(request) as StoreResponse
        return new Promise((resolve) => held.push(() => resolve(response)))
      },
      reset: (request) => counters.reset(request),
      close: () => undefined,
    }
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 3, window: '1 d' }),
      store,
      denyCache: true,
    })
    const answered = async (decision: Promise<unknown>) => {
      held.shift()!()
      return decision
    }
    for (let i = 0; i < 3; i++) await answered(limiter.limit('u'))
    const inFlight = limiter.limit('u')
    await limiter.reset('u')
    expect(await answered(inFlight)).toMatchObject({ allowed: false, reason: 'limited' })
    // The store admits again after the reset: the answer must come from it, not from a cached denial.
    const after = limiter.limit('u')
    expect(held).toHaveLength(1)
    expect(await answered(after)).toMatchObject({ allowed: true, remaining: 2 })
  })

  it('times a denial on its own clock, read when the request was sent, whatever that clock reads', async () => {
    const { store, counted } = countingStore()
    // A clock far from zero (a process up for days, or an epoch clock): the entry lives from the
    // request's sending, not from the clock's zero.
    const clock = manualClock(1_700_000_000_000)
    const remote = createRateLimiter({
      policies: fixedWindow({ limit: 1, window: '1 d' }),
      store,
      denyCache: { clock },
    })
    expect((await remote.limit('u')).allowed).toBe(true)
    expect((await remote.limit('u')).reason).toBe('limited')
    clock.advance(60_000)
    expect((await remote.limit('u')).reason).toBe('limited')
    expect(counted.calls).toBe(2) // the third answer came from the cache
  })

  it('remembers the denials of a store answering through a promise, and decides without a cache when it is off', async () => {
    for (const denyCache of [undefined, false] as const) {
      const { store, counted } = countingStore()
      const promised: RateLimitStore = {
        ...store,
        consume: (request) => Promise.resolve(store.consume(request)),
      }
      const remote = createRateLimiter({
        policies: fixedWindow({ limit: 1, window: '1 d' }),
        store: promised,
        denyCache,
      })
      expect((await remote.limit('u')).allowed).toBe(true)
      expect((await remote.limit('u')).reason).toBe('limited')
      expect((await remote.limit('u')).reason).toBe('limited')
      expect(counted.calls).toBe(denyCache === false ? 3 : 2)
    }
  })
})

describe('the deny cache answers as the store would', () => {
  interface Step {
    advanceMs: number
    cost: number
    tier?: string
  }

  /**
   * Runs `steps` on a limiter whose remote store (a memory store answering through a promise)
   * has the deny cache, and on a plain memory limiter, on one clock: every decision must match.
   */
  async function same(options: { policies?: Policy[]; tiers?: Record<string, Policy[]> }, steps: Step[]) {
    const clock = manualClock(1_700_000_000_000)
    const counters = memoryStore({ clock })
    const remote: RateLimitStore = {
      name: 'remote',
      local: false,
      consume: (request) => Promise.resolve(counters.consume(request) as StoreResponse),
      reset: (request) => counters.reset(request),
      close: () => undefined,
    }
    const base = options.tiers
      ? { tiers: options.tiers, defaultTier: Object.keys(options.tiers)[0]! }
      : options
    const cached = createRateLimiter({ ...base, store: remote, denyCache: { clock } } as never)
    const plain = createRateLimiter({ ...base, store: memoryStore({ clock }) } as never)
    for (const [i, step] of steps.entries()) {
      clock.advance(step.advanceMs)
      const request = { cost: step.cost, tier: step.tier }
      const [expected, actual] = [await plain.limit('a:b', request), await cached.limit('a:b', request)]
      expect({ step: i, ...actual }).toEqual({ step: i, ...expected })
    }
  }

  it('never denies a request the store admits after a charge under a tier with a smaller bucket', async () => {
    await same(
      {
        tiers: {
          pro: [tokenBucket({ name: 'b', capacity: 6, refillRate: 1, interval: 300 })],
          free: [tokenBucket({ name: 'b', capacity: 1, refillRate: 1, interval: 300 })],
        },
      },
      [
        { advanceMs: 0, cost: 6, tier: 'pro' },
        { advanceMs: 0, cost: 6, tier: 'pro' },
        { advanceMs: 300, cost: 1, tier: 'free' },
        { advanceMs: 100, cost: 6, tier: 'pro' },
      ],
    )
  })

  it('gives the wait the store gives after a smaller cost was admitted in between', async () => {
    await same({ policies: [tokenBucket({ capacity: 2, refillRate: 1, interval: 500 })] }, [
      { advanceMs: 0, cost: 2 },
      { advanceMs: 0, cost: 2 },
      { advanceMs: 500, cost: 1 },
      { advanceMs: 0, cost: 2 },
    ])
  })

  it('gives a larger cost the wait the store gives it after a smaller cost was denied', async () => {
    await same({ policies: [tokenBucket({ capacity: 2, refillRate: 1, interval: 500 })] }, [
      { advanceMs: 0, cost: 2 },
      { advanceMs: 0, cost: 1 },
      { advanceMs: 0, cost: 2 },
      { advanceMs: 0, cost: 1 },
    ])
  })

  it('lists no policy as denying once its own wait has passed', async () => {
    await same(
      {
        policies: [
          fixedWindow({ name: 'p', limit: 1, window: 1 }),
          fixedWindow({ name: 'day', limit: 1, window: '1 m' }),
        ],
      },
      [
        { advanceMs: 0, cost: 1 },
        { advanceMs: 0, cost: 1 },
        { advanceMs: 2, cost: 1 },
      ],
    )
  })
})
