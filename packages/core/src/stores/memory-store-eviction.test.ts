import { describe, expect, it } from 'vitest'
import type { Duration } from '../duration.js'
import { ERROR_CODES } from '../errors.js'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy } from '../policies/types.js'
import { manualClock } from '../testing/manual-clock.js'
import { type MemoryStore, memoryStore } from './memory-store.js'

const START_MS = 28_333_333 * 60_000 // a minute boundary

// [kind, a policy of limit 1 (one request limits it), one of limit 5]
const kinds: [string, (name: string) => Policy, (name: string) => Policy][] = [
  [
    'fixed window',
    (name) => fixedWindow({ name, limit: 1, window: '1 m' }),
    (name) => fixedWindow({ name, limit: 5, window: '1 m' }),
  ],
  [
    'sliding window',
    (name) => slidingWindow({ name, limit: 1, window: '1 m' }),
    (name) => slidingWindow({ name, limit: 5, window: '1 m' }),
  ],
  [
    'token bucket',
    (name) => tokenBucket({ name, capacity: 1, refillRate: 1, interval: '1 m' }),
    (name) => tokenBucket({ name, capacity: 5, refillRate: 1, interval: '1 m' }),
  ],
]

describe('memory store eviction across counters', () => {
  it.each(kinds)(
    "%s: makes room from another counter's unlimited key when every key of the deciding one is limited",
    async (_kind, strict, loose) => {
      const clock = manualClock(START_MS)
      const store = memoryStore({ clock, maxKeys: 2 })
      // The deciding limiter's counter is created first, so the other one is the last slot looked at.
      const held = createRateLimiter({ policies: strict('held'), prefix: 'a', store, logger: false })
      const other = createRateLimiter({ policies: loose('other'), prefix: 'b', store, logger: false })
      expect((await held.limit('held')).allowed).toBe(true)
      expect((await other.limit('free')).remaining).toBe(4)
      expect(store.size).toBe(2)
      // Every key of `held`'s counter is limited; `free` (4 of 5 left) is not, so it makes room.
      expect(await held.limit('newcomer')).toMatchObject({ allowed: true, reason: 'allowed' })
      expect(store.size).toBe(2)
      expect(await held.limit('held')).toMatchObject({ allowed: false, reason: 'limited' })
      expect((await other.peek('free')).remaining).toBe(4) // evicted: a fresh key's peek (3 had it stayed)
    },
  )
})

describe('memory store eviction of a sliding window key', () => {
  const window = 60_000
  const make = () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock, maxKeys: 1 })
    const limiter = createRateLimiter({ policies: slidingWindow({ limit: 2, window }), store, logger: false })
    return { clock, store, limiter }
  }

  it('evicts a key of the current window that still has room for one more unit', async () => {
    const { store, limiter } = make()
    expect((await limiter.limit('a')).remaining).toBe(1)
    expect(await limiter.limit('b')).toMatchObject({ allowed: true, reason: 'allowed' })
    expect(store.size).toBe(1)
    expect((await limiter.peek('a')).remaining).toBe(1) // evicted: a fresh key's peek (0 had it stayed)
  })

  it("evicts a key held only in the previous window's counts when it is not limited", async () => {
    const { clock, store, limiter } = make()
    expect((await limiter.limit('a')).remaining).toBe(1)
    clock.advance(window) // a's count is now the previous window's, still weighing almost fully
    expect((await limiter.peek('a')).remaining).toBe(0)
    expect(await limiter.limit('b')).toMatchObject({ allowed: true, reason: 'allowed' })
    expect(store.size).toBe(1)
    expect((await limiter.peek('a')).remaining).toBe(1) // evicted: a fresh key's peek
  })
})

// [kind, a policy named `name` admitting 2 units]
const twoUnits: [string, (name: string) => Policy][] = [
  ['fixed window', (name) => fixedWindow({ name, limit: 2, window: '1 m' })],
  ['sliding window', (name) => slidingWindow({ name, limit: 2, window: '1 m' })],
  ['token bucket', (name) => tokenBucket({ name, capacity: 2, refillRate: 1, interval: '1 m' })],
]

describe('memory store at maxKeys, for an identifier it already holds', () => {
  it.each(twoUnits)(
    '%s: charges it again without making room, though every other key is limited',
    async (_kind, policy) => {
      const store = memoryStore({ clock: manualClock(START_MS), maxKeys: 2 })
      const limiter = createRateLimiter({ policies: policy('p'), store, logger: false })
      await limiter.limit('held', { cost: 2 })
      expect((await limiter.limit('x')).remaining).toBe(1)
      expect(store.size).toBe(2)
      expect(await limiter.limit('x')).toMatchObject({ allowed: true, reason: 'allowed', remaining: 0 })
      expect(await limiter.limit('held')).toMatchObject({ allowed: false, reason: 'limited' })
    },
  )

  it.each(twoUnits)(
    "%s: never frees its own key of another policy to make room for the tier's new one",
    async (_kind, policy) => {
      const store = memoryStore({ clock: manualClock(START_MS), maxKeys: 2 })
      const limiter = createRateLimiter({
        tiers: { one: [policy('a')], two: [policy('a'), policy('b')] },
        defaultTier: 'one',
        store,
        logger: false,
      })
      await limiter.limit('x') // x's key of `a` comes first in its counter, where eviction starts
      await limiter.limit('y')
      expect(await limiter.limit('x', { tier: 'two' })).toMatchObject({ allowed: true, reason: 'allowed' })
      expect(store.size).toBe(2) // y made room; x's key of `a` was kept, not freed and written again
      expect((await limiter.peek('x', { tier: 'two' })).policies.map((p) => p.remaining)).toEqual([0, 1])
      expect((await limiter.peek('y')).remaining).toBe(1) // evicted: a fresh key's peek
    },
  )
})

describe('memory store eviction of a token bucket', () => {
  const make = (capacity: number) => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock, maxKeys: 1 })
    const limiter = createRateLimiter({
      policies: tokenBucket({ capacity, refillRate: 1, interval: '1 m' }),
      store,
      logger: false,
    })
    return { clock, store, limiter }
  }

  it('evicts a bucket holding exactly one token', async () => {
    const { store, limiter } = make(2)
    expect((await limiter.limit('a')).remaining).toBe(1)
    expect(await limiter.limit('b')).toMatchObject({ allowed: true, reason: 'allowed' })
    expect(store.size).toBe(1)
    expect((await limiter.peek('a')).remaining).toBe(1) // evicted: a fresh key's peek (0 had it stayed)
  })

  it('evicts an emptied bucket past its expiry (full again by then), before any sweep frees it', async () => {
    const { clock, store, limiter } = make(1)
    const first = await limiter.limit('a')
    expect(first.remaining).toBe(0)
    expect((await limiter.limit('a')).allowed).toBe(false)
    clock.set(first.resetAtMs + 1)
    expect(await limiter.limit('b')).toMatchObject({ allowed: true, reason: 'allowed' })
    expect(store.size).toBe(1)
  })
})

describe('memory store making room', () => {
  it("first brings every counter up to now: a passed window's keys are freed, and no other unlimited key is", async () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock, maxKeys: 3 })
    const make = (prefix: string, window: Duration, limit: number) =>
      createRateLimiter({ policies: fixedWindow({ limit, window }), prefix, store, logger: false })
    const hourly = make('a', '1 h', 1)
    const minutely = make('b', '1 m', 1)
    const loose = make('c', '1 h', 5)
    await hourly.limit('held') // limited for the hour
    await minutely.limit('x') // limited for this minute only
    expect((await loose.limit('y')).remaining).toBe(4)
    clock.advance(60_000) // x's window has passed; nothing has looked at its counter since
    expect(await hourly.limit('newcomer')).toMatchObject({ allowed: true, reason: 'allowed' })
    // The room came from x's passed window: y (not limited, but needed by no one) keeps its count.
    expect((await loose.peek('y')).remaining).toBe(3)
    expect(store.size).toBe(3)
  })

  it('frees a passed window before evicting a live count of the counter being decided', async () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock, maxKeys: 2 })
    const loose = createRateLimiter({
      policies: fixedWindow({ limit: 5, window: '1 h' }),
      prefix: 'c',
      store,
      logger: false,
    })
    const minutely = createRateLimiter({
      policies: fixedWindow({ limit: 1, window: '1 m' }),
      prefix: 'b',
      store,
      logger: false,
    })
    expect((await loose.limit('y')).remaining).toBe(4) // not limited: evictable, but counted
    await minutely.limit('x')
    clock.advance(60_000)
    expect(await loose.limit('newcomer')).toMatchObject({ allowed: true, remaining: 4 })
    // y keeps its count (a peek gives what one more request would leave: 3, not a fresh key's 4).
    expect((await loose.peek('y')).remaining).toBe(3)
  })

  it('frees a passed window even once the eviction budget went on limited keys', async () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock, maxKeys: 65 })
    const minutely = createRateLimiter({
      policies: fixedWindow({ limit: 1, window: '1 m' }),
      prefix: 'b',
      store,
      logger: false,
    })
    const hourly = createRateLimiter({
      policies: fixedWindow({ limit: 1, window: '1 h' }),
      prefix: 'a',
      store,
      logger: false,
    })
    await minutely.limit('x')
    for (let i = 0; i < 64; i++) await hourly.limit(`held-${i}`) // 64 limited keys: the whole budget
    clock.advance(60_000) // x's window has passed; nothing has looked at its counter since
    expect(await hourly.limit('newcomer')).toMatchObject({ allowed: true, reason: 'allowed' })
    expect(store.size).toBe(65)
  })
})

describe('memory store window counters', () => {
  it.each([
    ['fixed', 'free', 'pro'],
    ['fixed', 'pro', 'free'],
    ['sliding', 'free', 'pro'],
    ['sliding', 'pro', 'free'],
  ])(
    'never evicts a key still limited under the strictest tier of a %s window counter (%s seen first)',
    async (kind, first, second) => {
      const store = memoryStore({ clock: manualClock(START_MS), maxKeys: 2 })
      const window = kind === 'fixed' ? fixedWindow : slidingWindow
      const limiter = createRateLimiter({
        tiers: {
          free: window({ name: 'api', limit: 2, window: '1 m' }),
          pro: window({ name: 'api', limit: 10, window: '1 m' }),
        },
        defaultTier: 'free',
        store,
        logger: false,
      })
      await limiter.limit(`${first}-user`, { tier: first, cost: 2 })
      await limiter.limit(`${second}-user`, { tier: second, cost: 2 })
      // Both keys are limited under `free` (2 of 2 used): neither may go, so the newcomer fails.
      expect((await limiter.limit('newcomer')).reason).toBe('store-error')
      expect(await limiter.limit(`${first}-user`)).toMatchObject({ allowed: false, reason: 'limited' })
      expect(await limiter.limit(`${second}-user`)).toMatchObject({ allowed: false, reason: 'limited' })
    },
  )

  it('frees both generations when time jumps past more than one window', async () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock, maxKeys: 10 })
    const limiter = createRateLimiter({
      policies: slidingWindow({ limit: 5, window: '1 m' }),
      store,
      logger: false,
    })
    await limiter.limit('a')
    clock.advance(60_000)
    await limiter.limit('b') // a in the previous window, b in the current one
    expect(store.size).toBe(2)
    clock.advance(2 * 60_000)
    expect(store.size).toBe(0)
  })
})

describe('memory store making room across counters', () => {
  /** A limiter of `limit` a minute under its own prefix, on `store`. */
  const perMinute = (store: MemoryStore, prefix: string, limit: number) =>
    createRateLimiter({ policies: fixedWindow({ limit, window: '1 m' }), prefix, store, logger: false })

  it("takes the deciding counter's own unlimited key before another counter's", async () => {
    const store = memoryStore({ clock: manualClock(START_MS), maxKeys: 2 })
    // The other counter counts first, so it comes first in the store's list of counters.
    const other = perMinute(store, 'b', 5)
    const deciding = perMinute(store, 'a', 5)
    expect((await other.limit('kept')).remaining).toBe(4)
    expect((await deciding.limit('old')).remaining).toBe(4)
    expect(await deciding.limit('newcomer')).toMatchObject({ allowed: true, reason: 'allowed' })
    expect(store.size).toBe(2)
    expect((await other.peek('kept')).remaining).toBe(3) // kept its count
    expect((await deciding.peek('old')).remaining).toBe(4) // evicted: a fresh key's peek
  })

  it('looks at the deciding counter once, then at the others, before failing a new identifier', async () => {
    // 40 limited keys in the deciding counter, which counted first (first in the store's list of
    // counters), and one unlimited key in another. Looking at the 40 twice (80 of the 64-key
    // budget) left the other counter unseen: the newcomer failed, or not, by the counters' order.
    const store = memoryStore({ clock: manualClock(START_MS), maxKeys: 41 })
    const deciding = perMinute(store, 'a', 1)
    const other = perMinute(store, 'b', 5)
    for (let i = 0; i < 40; i++) expect((await deciding.limit(`held-${i}`)).remaining).toBe(0)
    expect((await other.limit('free')).remaining).toBe(4)
    const examined = store.examined
    expect(await deciding.limit('newcomer')).toMatchObject({ allowed: true, reason: 'allowed' })
    expect(store.examined - examined).toBe(41) // each key once: 40 limited, then the one evicted
    expect((await other.peek('free')).remaining).toBe(4) // evicted: a fresh key's peek
    expect((await deciding.limit('held-0')).allowed).toBe(false) // still limited
  })

  it("takes the keys of a request's own counters before another counter's when it needs room for several", async () => {
    const store = memoryStore({ clock: manualClock(START_MS), maxKeys: 3 })
    const other = perMinute(store, 'c', 5)
    const both = createRateLimiter({
      policies: [
        fixedWindow({ name: 'a', limit: 5, window: '1 m' }),
        fixedWindow({ name: 'b', limit: 5, window: '1 m' }),
      ],
      store,
      logger: false,
    })
    expect((await other.limit('kept')).remaining).toBe(4)
    expect((await both.limit('old')).remaining).toBe(4)
    expect(await both.limit('newcomer')).toMatchObject({ allowed: true, reason: 'allowed' })
    expect(store.size).toBe(3)
    expect((await other.peek('kept')).remaining).toBe(3) // kept its count
    expect((await both.peek('old')).policies.map((p) => p.remaining)).toEqual([4, 4]) // evicted from both
  })

  it('looks at exactly 64 keys over the counters before failing a new identifier', () => {
    const store = memoryStore({ clock: manualClock(START_MS), maxKeys: 163 })
    const policy = fixedWindow({ limit: 1, window: '1 m' })
    const consume = (prefix: string, id: string) =>
      store.consume({ prefix, id, policies: [policy], cost: 1, peek: false })
    // The other counter, created first, holds 100 limited keys; the deciding one 63, one short of the budget.
    for (let i = 0; i < 100; i++) consume('other', `held-${i}`)
    for (let i = 0; i < 63; i++) consume('deciding', `held-${i}`)
    const before = store.examined
    expect(() => consume('deciding', 'newcomer')).toThrow(
      expect.objectContaining({ code: ERROR_CODES.STORE_FULL }),
    )
    // 63 keys of the deciding counter, then the last unit of the budget on the other one.
    expect(store.examined - before).toBe(64)
  })

  it('spends the last unit of the budget on the next counter: an unlimited key there makes room', async () => {
    const store = memoryStore({ clock: manualClock(START_MS), maxKeys: 64 })
    const other = perMinute(store, 'b', 5)
    const deciding = perMinute(store, 'a', 1)
    expect((await other.limit('free')).remaining).toBe(4)
    for (let i = 0; i < 63; i++) await deciding.limit(`held-${i}`) // every one limited
    expect(await deciding.limit('newcomer')).toMatchObject({ allowed: true, reason: 'allowed' })
    expect(store.size).toBe(64)
    expect((await other.peek('free')).remaining).toBe(4) // evicted: a fresh key's peek
  })

  it('looks at up to 64 keys for each key a request of several policies adds', async () => {
    const store = memoryStore({ clock: manualClock(START_MS), maxKeys: 82 })
    const limiter = createRateLimiter({
      policies: [
        fixedWindow({ name: 'a', limit: 2, window: '1 m' }),
        fixedWindow({ name: 'b', limit: 2, window: '1 m' }),
      ],
      store,
      logger: false,
    })
    for (let i = 0; i < 40; i++) await limiter.limit(`held-${i}`, { cost: 2 }) // 80 limited keys
    expect((await limiter.limit('free')).allowed).toBe(true) // the last key of each counter, not limited
    // Room for two keys: 41 looked at in `a` to free the first, then 40 in `a` and 41 in `b` for the
    // second, 122 of the 128 a two-key request may look at.
    expect(await limiter.limit('newcomer')).toMatchObject({ allowed: true, reason: 'allowed' })
    expect(store.size).toBe(82)
    expect((await limiter.peek('free')).policies.map((p) => p.remaining)).toEqual([1, 1]) // evicted from both
  })
})
