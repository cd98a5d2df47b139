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
function slotCount(store: ReturnType<typeof memoryStore>): number {
  return (Reflect.get(store, 'slotList') as unknown[]).length
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
      expect(slotCount(store)).toBe(TENANTS)
      const [a, b] = ['a', 'b'].map((prefix) =>
        createRateLimiter({ policies: policy, store, prefix, logger: false }),
      )
      // Past every tenant's window (the sliding window's previous one too; a bucket full for an interval).
      clock.advance(3 * 60_000)
      // Each request of other policies than the last looks at two slots: a pass frees every empty one.
      for (let i = 0; i < TENANTS; i++) await (i % 2 === 0 ? a : b)!.limit(`client-${i % 3}`)
      expect(slotCount(store)).toBe(2)
      expect(store.size).toBe(6)
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
      most = Math.max(most, slotCount(store))
      clock.advance(1_000)
    }
    // A tenant a second, each counted for the rest of its minute: never more than a minute's worth
    // of tenants, and one left over from the minute before.
    expect(most).toBeLessThanOrEqual(61)
  })

  it('keeps a slot that still holds keys, and the slots of the request being decided', async () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock })
    const policy = fixedWindow({ limit: 2, window: '1 m' })
    const held = createRateLimiter({ policies: policy, store, prefix: 'held', logger: false })
    const [b, c] = ['b', 'c'].map((prefix) =>
      createRateLimiter({ policies: policy, store, prefix, logger: false }),
    )
    const alternate = async (calls: number) => {
      for (let i = 0; i < calls; i++) await (i % 2 === 0 ? b : c)!.limit('x')
    }
    await held.limit('a')
    await held.limit('a')
    await alternate(50)
    expect(slotCount(store)).toBe(3)
    expect(await held.peek('a')).toMatchObject({ allowed: false, remaining: 0 })
    // Its window passes: the slot goes, and comes back for the next request with a fresh count.
    clock.advance(60_000)
    // One slot of the two the first request looks at is its own (the last list's): the second goes.
    await held.limit('a')
    expect(slotCount(store)).toBe(3)
    clock.advance(60_000)
    await alternate(4)
    expect(slotCount(store)).toBe(2)
    expect(await held.limit('a')).toMatchObject({ allowed: true, remaining: 1 })
    expect(slotCount(store)).toBe(3)
  })

  it('a slot built again still protects the strictest tier from eviction', async () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock, maxKeys: 100 })
    const policies = {
      free: fixedWindow({ name: 'api', limit: 3, window: '1 m' }),
      pro: fixedWindow({ name: 'api', limit: 1_000, window: '1 m' }),
    }
    const limiter = createRateLimiter({ tiers: policies, defaultTier: 'free', store, logger: false })
    const other = createRateLimiter({
      policies: fixedWindow({ limit: 5, window: '1 h' }),
      store,
      prefix: 'o',
    })
    await limiter.limit('free-user', { tier: 'free' })
    await limiter.limit('pro-user', { tier: 'pro' })
    // Both keys expire and the slot is dropped; the pro tier builds it again first.
    clock.advance(60_000)
    for (let i = 0; i < 4; i++) await other.limit('x')
    expect(slotCount(store)).toBe(1)
    await limiter.limit('pro-user', { tier: 'pro' })
    for (let i = 0; i < 3; i++) await limiter.limit('victim', { tier: 'free' })
    expect(await limiter.peek('victim', { tier: 'free' })).toMatchObject({ allowed: false })
    // A flood of pro identifiers fills the store: the limited free identifier is never evicted.
    for (let i = 0; i < 500; i++) {
      expect((await limiter.limit(`pro-${i}`, { tier: 'pro' })).allowed).toBe(true)
    }
    expect(await limiter.peek('victim', { tier: 'free' })).toMatchObject({
      allowed: false,
      reason: 'limited',
    })
  })
})
