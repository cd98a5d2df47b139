import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../errors.js'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy } from '../policies/types.js'
import type { StoreResponse } from '../store.js'
import { manualClock } from '../testing/manual-clock.js'
import { memoryStore } from './memory-store.js'

const MAX_KEYS = 1_000
const START_MS = 28_333_333 * 60_000 // a minute boundary

// [kind, policy, start]: the sliding window's flood crosses a window boundary (the victim's count
// moves to the previous window and must still hold it back); a fixed window's would legitimately end it.
const kinds: [string, Policy, number][] = [
  ['fixed window', fixedWindow({ limit: 5, window: '1 m' }), START_MS],
  ['sliding window', slidingWindow({ limit: 5, window: '1 m' }), START_MS + 59_800],
  ['token bucket', tokenBucket({ capacity: 5, refillRate: 1, interval: '1 m' }), START_MS],
]

describe('memory store maxKeys', () => {
  it.each(kinds)(
    '%s: never holds more than maxKeys, and a limited identifier stays limited through a flood',
    async (_kind, policy, startMs) => {
      const clock = manualClock(startMs)
      const store = memoryStore({ clock, maxKeys: MAX_KEYS })
      const limiter = createRateLimiter({ policies: policy, store, logger: false })
      for (let i = 0; i < 5; i++) await limiter.limit('victim')
      const before = await limiter.peek('victim')
      expect(before).toMatchObject({ allowed: false, reason: 'limited' })
      let largest = 0
      for (let i = 0; i < 20 * MAX_KEYS; i++) {
        const d = await limiter.limit(`flood-${i}`)
        expect(d.reason).toBe('allowed')
        largest = Math.max(largest, store.size)
        if (i % 50 === 0) clock.advance(1)
      }
      expect(largest).toBe(MAX_KEYS)
      const after = await limiter.peek('victim')
      expect(after).toMatchObject({ allowed: false, reason: 'limited', remaining: 0 })
      expect(after.nowMs + after.retryAfterMs).toBe(before.nowMs + before.retryAfterMs)
    },
  )

  it('answers a new identifier with ERR_FLOODGATE_STORE_FULL when every key is still limited', async () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock, maxKeys: 100 })
    const policies = [fixedWindow({ limit: 1, window: '1 m' })]
    for (let i = 0; i < 100; i++)
      store.consume({ prefix: 'p', id: `held-${i}`, policies, cost: 1, peek: false })
    expect(() => store.consume({ prefix: 'p', id: 'newcomer', policies, cost: 1, peek: false })).toThrow(
      expect.objectContaining({ code: ERROR_CODES.STORE_FULL }),
    )
    expect(store.size).toBe(100)
    // One error for all such answers: a flood of new identifiers must not build (and capture the
    // stack of) an error for each, which took half the time of every decision.
    const thrown = [1, 2].map((n) => {
      try {
        store.consume({ prefix: 'p', id: `newcomer-${n}`, policies, cost: 1, peek: false })
      } catch (error) {
        return error
      }
      return undefined
    })
    expect(thrown[0]).toMatchObject({ code: ERROR_CODES.STORE_FULL })
    expect(thrown[1]).toBe(thrown[0])
    // A peek writes nothing, so it still answers.
    expect(
      (store.consume({ prefix: 'p', id: 'newcomer', policies, cost: 1, peek: true }) as StoreResponse)
        .outcomes[0]!.allowed,
    ).toBe(true)

    for (const onStoreError of ['allow', 'deny'] as const) {
      const failures: string[] = []
      const lines: string[] = []
      const limiter = createRateLimiter({
        policies,
        store,
        prefix: 'p',
        onStoreError,
        onStoreFailure: (error) => failures.push(error.code),
        logger: { warn: (line) => lines.push(line) },
      })
      const d = await limiter.limit('newcomer')
      expect(d).toMatchObject({ allowed: onStoreError === 'allow', reason: 'store-error' })
      expect(d.error?.code).toBe(ERROR_CODES.STORE_FULL)
      expect(failures).toEqual([ERROR_CODES.STORE_FULL])
      // The limited identifiers are still limited.
      expect(await limiter.limit('held-7')).toMatchObject({ allowed: false, reason: 'limited' })
      // The memory store's own path tells no recovery, and its failure line promises none.
      const outage = lines.filter((line) => line.includes('WARN_FLOODGATE_STORE_'))
      expect(outage).toHaveLength(1)
      expect(outage[0]).toMatch(/WARN_FLOODGATE_STORE_FAILURE: .* until the store answers again\.$/)
    }
    // Once their window passes, the new identifier is counted.
    clock.advance(60_000)
    expect(
      (store.consume({ prefix: 'p', id: 'newcomer', policies, cost: 1, peek: false }) as StoreResponse)
        .outcomes[0]!.allowed,
    ).toBe(true)
  })

  it.each(kinds)(
    '%s: looks at no more than 64 keys to make room (and 4 more to sweep) before failing a new identifier',
    (_kind, policy, startMs) => {
      const store = memoryStore({ clock: manualClock(startMs), maxKeys: 100 })
      const policies = [policy]
      for (let i = 0; i < 100; i++)
        store.consume({ prefix: 'p', id: `held-${i}`, policies, cost: 5, peek: false })
      const before = store.examined
      expect(() => store.consume({ prefix: 'p', id: 'newcomer', policies, cost: 1, peek: false })).toThrow(
        expect.objectContaining({ code: ERROR_CODES.STORE_FULL }),
      )
      // EVICTION_BUDGET (64) keys, every one limited; only token buckets are swept (SWEEP_PER_CALL, 4).
      const examined = store.examined - before
      expect(examined).toBeGreaterThanOrEqual(64)
      expect(examined).toBeLessThanOrEqual(policy.kind === 'token-bucket' ? 68 : 64)
    },
  )

  it('sliding window: the previous and the current window share the 64 keys it looks at to make room', () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock, maxKeys: 100 })
    const policies = [slidingWindow({ limit: 5, window: '1 m' })]
    const consume = (id: string) => store.consume({ prefix: 'p', id, policies, cost: 5, peek: false })
    for (let i = 0; i < 50; i++) consume(`previous-${i}`)
    clock.advance(60_001) // their counts, in the previous window now, still limit them
    for (let i = 0; i < 50; i++) consume(`current-${i}`)
    const before = store.examined
    expect(() => consume('newcomer')).toThrow(expect.objectContaining({ code: ERROR_CODES.STORE_FULL }))
    expect(store.examined - before).toBe(64)
  })

  it("never frees the keys of the identifier being decided: a sliding window's previous count still holds it back", async () => {
    const window = 60_000
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock, maxKeys: MAX_KEYS })
    const limiter = createRateLimiter({
      policies: slidingWindow({ limit: 10, window }),
      store,
      logger: false,
    })
    expect((await limiter.limit('x', { cost: 10 })).remaining).toBe(0)
    clock.advance(window)
    // A full store, with x's count of the previous window among its keys.
    for (let i = 0; store.size < MAX_KEYS; i++) await limiter.limit(`other-${i}`)
    clock.advance(window / 2)
    // Half the previous window still weighs: 5 of 10 are left, so a cost of 5 is admitted, and nothing after it.
    expect((await limiter.limit('x', { cost: 5 })).remaining).toBe(0)
    expect(await limiter.limit('x')).toMatchObject({ allowed: false, reason: 'limited' })
    expect(store.size).toBeLessThanOrEqual(MAX_KEYS)
  })

  it('counts the keys an identifier already holds when making room, so a tier with more policies stays within maxKeys', async () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock, maxKeys: 2 })
    const [a, b] = [
      fixedWindow({ name: 'a', limit: 5, window: '1 m' }),
      fixedWindow({ name: 'b', limit: 5, window: '1 m' }),
    ]
    const limiter = createRateLimiter({
      tiers: { one: [a], two: [a, b] },
      defaultTier: 'one',
      store,
      logger: false,
    })
    await limiter.limit('x')
    await limiter.limit('y')
    await limiter.limit('x', { tier: 'two' })
    expect(store.size).toBe(2)
    expect((await limiter.peek('x', { tier: 'two' })).policies.map((p) => p.remaining)).toEqual([2, 3])
  })

  it('evicts a token bucket only strictly after its expiry, the instant the reference reads it as full', async () => {
    // The small tier empties the shared bucket, whose entry expires (full again under it) at E; the
    // big tier's denial says retry at E + 1. At E a new identifier needs room: the bucket is still
    // limited for the big tier, so it must stay, and the big tier's request be denied.
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock, maxKeys: 1 })
    const limiter = createRateLimiter({
      tiers: {
        small: tokenBucket({ name: 'a', capacity: 1, refillRate: 3, interval: 10 }),
        big: tokenBucket({ name: 'a', capacity: 5, refillRate: 1, interval: 10 }),
      },
      defaultTier: 'small',
      store,
      logger: false,
    })
    await limiter.limit('u', { tier: 'small' })
    const denied = await limiter.limit('u', { tier: 'big' })
    expect(denied.allowed).toBe(false)
    clock.advance(denied.retryAfterMs - 1)
    expect((await limiter.limit('newcomer', { tier: 'big' })).reason).toBe('store-error')
    expect(await limiter.limit('u', { tier: 'big' })).toMatchObject({ allowed: false, retryAfterMs: 1 })
    clock.advance(1)
    expect(await limiter.limit('u', { tier: 'big' })).toMatchObject({ allowed: true, remaining: 4 })
  })

  it.each(kinds)(
    '%s: a reset of an identifier it does not hold changes no count, so maxKeys still bounds it',
    async (_kind, policy) => {
      const store = memoryStore({ clock: manualClock(START_MS), maxKeys: 2 })
      const limiter = createRateLimiter({ policies: policy, store, logger: false })
      await limiter.limit('a')
      await limiter.reset('never-seen')
      await limiter.reset('a')
      await limiter.reset('a') // a second reset finds nothing
      expect(store.size).toBe(0)
      for (const id of ['b', 'c', 'd', 'e']) expect((await limiter.limit(id)).allowed).toBe(true)
      expect(store.size).toBe(2)
    },
  )
})
