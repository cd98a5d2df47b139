import { describe, expect, it } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy } from '../policies/types.js'
import { manualClock } from '../testing/manual-clock.js'
import { memoryStore } from './memory-store.js'

const START_MS = 28_333_333 * 60_000 // a minute boundary
const TENANTS = 1_000

/** The store's slots (one per prefix and counter): internal, read here to see them freed. */
function slotsOf(store: ReturnType<typeof memoryStore>): object[] {
  return [...(Reflect.get(store, 'slotList') as object[])]
}

const kinds: [string, Policy][] = [
  ['fixed window', fixedWindow({ limit: 5, window: '1 m' })],
  ['sliding window', slidingWindow({ limit: 5, window: '1 m' })],
  ['token bucket', tokenBucket({ capacity: 5, refillRate: 5, interval: '1 m' })],
]

describe('memory store slots', () => {
  it.each(kinds)(
    '%s: a limiter per tenant, each with a prefix of its own, leaves nothing behind once its keys expire',
    async (_kind, policy) => {
      const clock = manualClock(START_MS)
      const store = memoryStore({ clock })
      for (let i = 0; i < TENANTS; i++) {
        const tenant = createRateLimiter({ policies: policy, store, prefix: `tenant-${i}`, logger: false })
        expect((await tenant.limit('user')).allowed).toBe(true)
        await tenant.close()
      }
      expect(slotsOf(store)).toHaveLength(TENANTS)
      const steady = createRateLimiter({ policies: policy, store, prefix: 'steady', logger: false })
      // Past every tenant's window (the sliding window's previous one too; a bucket full for an interval).
      clock.advance(3 * 60_000)
      // Each decision looks at one other slot: a look finds it idle, one a period later drops it.
      for (let i = 0; i < 2 * TENANTS; i++) await steady.limit(`client-${i % 3}`)
      expect(slotsOf(store)).toHaveLength(TENANTS + 1)
      clock.advance(60_000)
      for (let i = 0; i < 2 * TENANTS; i++) await steady.limit(`client-${i % 3}`)
      expect(slotsOf(store)).toHaveLength(1)
      expect(store.size).toBe(3)
      // A tenant that comes back counts from zero, as it would have in the slot kept before.
      const back = createRateLimiter({ policies: policy, store, prefix: 'tenant-7', logger: false })
      const decisions = []
      for (let i = 0; i < 6; i++) decisions.push(await back.limit('user'))
      expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0])
      expect(decisions[5]!.allowed).toBe(false)
    },
  )

  it('keeps their number bounded while tenants come and go', async () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock })
    const policy = fixedWindow({ limit: 5, window: '1 m' })
    let most = 0
    for (let i = 0; i < 10 * TENANTS; i++) {
      const tenant = createRateLimiter({ policies: policy, store, prefix: `tenant-${i}`, logger: false })
      await tenant.limit('user')
      await tenant.close()
      most = Math.max(most, slotsOf(store).length)
      clock.advance(1_000)
    }
    // A tenant a second, each counted for the rest of its minute, then idle for a minute before it
    // goes, plus the rotation's lag: a few minutes' worth of tenants, never one slot per tenant seen.
    expect(most).toBeLessThanOrEqual(5 * 60)
  })

  it('keeps a slot that still holds keys, and the slots of the request being decided', async () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock })
    const policy = fixedWindow({ limit: 2, window: '1 m' })
    const held = createRateLimiter({ policies: policy, store, prefix: 'held', logger: false })
    const other = createRateLimiter({ policies: policy, store, prefix: 'other', logger: false })
    await held.limit('a')
    await held.limit('a')
    for (let i = 0; i < 50; i++) await other.limit('x')
    expect(slotsOf(store)).toHaveLength(2)
    expect(await held.peek('a')).toMatchObject({ allowed: false, remaining: 0 })
    // Its window passes: idle for a period, the slot goes, and comes back for the next request.
    clock.advance(60_000)
    for (let i = 0; i < 4; i++) await other.limit('x')
    expect(slotsOf(store)).toHaveLength(2)
    clock.advance(60_000)
    for (let i = 0; i < 4; i++) await other.limit('x')
    expect(slotsOf(store)).toHaveLength(1)
    expect(await held.limit('a')).toMatchObject({ allowed: true, remaining: 1 })
    expect(slotsOf(store)).toHaveLength(2)
  })

  it('keeps the slot of a limiter that only peeks (it stays empty) while it is used', async () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock })
    const policy = fixedWindow({ limit: 2, window: '1 m' })
    const counting = createRateLimiter({ policies: policy, store, prefix: 'counting', logger: false })
    const peeking = createRateLimiter({ policies: policy, store, prefix: 'peeking', logger: false })
    await counting.limit('a')
    await peeking.peek('b')
    const before = slotsOf(store)
    expect(before).toHaveLength(2)
    for (let i = 0; i < 100; i++) {
      // Four counted requests to one peek, a second apart: its empty slot is looked at between.
      for (let j = 0; j < 4; j++) await counting.limit(`a-${j}`)
      await peeking.peek('b')
      clock.advance(1_000)
    }
    // Not dropped and built again on every request: the same two slots.
    const after = slotsOf(store)
    expect(after).toHaveLength(2)
    for (const slot of before) expect(after.includes(slot)).toBe(true)
  })

  it('a slot built again by a generous tier still protects a key limited under the strictest', async () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock, maxKeys: 100 })
    const limiter = createRateLimiter({
      tiers: {
        free: fixedWindow({ name: 'api', limit: 3, window: '1 m' }),
        pro: fixedWindow({ name: 'api', limit: 1_000, window: '1 m' }),
      },
      defaultTier: 'free',
      store,
      logger: false,
    })
    const other = createRateLimiter({
      policies: fixedWindow({ limit: 5, window: '1 h' }),
      store,
      prefix: 'o',
    })
    await limiter.limit('free-user', { tier: 'free' })
    // The window passes, and the empty slot is dropped before the free tier is seen again.
    clock.advance(60_000)
    for (let i = 0; i < 4; i++) await other.limit('x')
    clock.advance(60_000)
    for (let i = 0; i < 4; i++) await other.limit('x')
    expect(slotsOf(store)).toHaveLength(1)
    // Built again by the pro tier: a user spends 5 there, then is moved to free (limit 3).
    for (let i = 0; i < 5; i++) await limiter.limit('downgraded', { tier: 'pro' })
    // A flood of pro identifiers fills the store: the downgraded user's key must not be evicted.
    for (let i = 0; i < 500; i++) {
      expect((await limiter.limit(`pro-${i}`, { tier: 'pro' })).allowed).toBe(true)
    }
    expect(await limiter.limit('downgraded', { tier: 'free' })).toMatchObject({
      allowed: false,
      reason: 'limited',
      remaining: 0,
    })
  })

  it('keeps the slot of two limiters counting one counter under different limits: neither could build it again alone', async () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock, maxKeys: 2 })
    const options = {
      store,
      logger: false as const,
      silenceWarnings: ['WARN_FLOODGATE_SHARED_COUNTERS' as const],
    }
    const strict = createRateLimiter({
      ...options,
      prefix: 'p',
      policies: fixedWindow({ name: 'x', limit: 1, window: '1 s' }),
    })
    const loose = createRateLimiter({
      ...options,
      prefix: 'p',
      policies: fixedWindow({ name: 'x', limit: 10, window: '1 s' }),
    })
    const other = createRateLimiter({
      ...options,
      prefix: 'o',
      policies: fixedWindow({ name: 'y', limit: 1, window: '1 h' }),
    })
    await strict.limit('warm-up')
    await loose.limit('warm-up')
    // Empty and idle for several of its periods, looked at all the while.
    for (let i = 0; i < 5; i++) {
      clock.advance(1_000)
      for (let j = 0; j < 4; j++) await other.limit('o-1')
    }
    await loose.limit('k') // one used: limited under the strict limiter's limit of 1
    await other.limit('o-2') // the store is full: 'k' is limited, so the newcomer finds no room
    expect(await strict.limit('k')).toMatchObject({ allowed: false, reason: 'limited' })
  })

  it('keeps the slot of tiers it was not told of (a memory store behind a store of your own)', async () => {
    const clock = manualClock(START_MS)
    const memory = memoryStore({ clock, maxKeys: 2 })
    // Not recognised as the memory store: the limiter cannot tell it which tiers share a counter.
    const wrapped = {
      name: 'wrapped',
      local: true,
      consume: (request: Parameters<typeof memory.consume>[0]) => memory.consume(request),
      reset: (request: Parameters<typeof memory.reset>[0]) => memory.reset(request),
      close: () => memory.close(),
    }
    const limiter = createRateLimiter({
      tiers: {
        free: fixedWindow({ name: 'api', limit: 1, window: '1 s' }),
        pro: fixedWindow({ name: 'api', limit: 10, window: '1 s' }),
      },
      defaultTier: 'free',
      store: wrapped,
      logger: false,
    })
    const other = createRateLimiter({
      store: memory,
      prefix: 'o',
      policies: fixedWindow({ limit: 1, window: '1 h' }),
      logger: false,
    })
    await limiter.limit('warm-up', { tier: 'free' })
    await limiter.limit('warm-up', { tier: 'pro' })
    for (let i = 0; i < 5; i++) {
      clock.advance(1_000)
      for (let j = 0; j < 4; j++) await other.limit('o-1')
    }
    await limiter.limit('k', { tier: 'pro' }) // one used: limited for the free tier
    await other.limit('o-2')
    expect(await limiter.limit('k', { tier: 'free' })).toMatchObject({ allowed: false, reason: 'limited' })
  })
})
