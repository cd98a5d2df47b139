import { runStoreConformance } from '@floodgate/core/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import { manualClock } from '../testing/manual-clock.js'
import { memoryStore } from './memory-store.js'

runStoreConformance({ name: 'memory', createStore: ({ clock }) => memoryStore({ clock }) })

describe('memory store', () => {
  it('is a local store that holds 1,000,000 keys at most unless told otherwise', () => {
    const store = memoryStore()
    expect(store).toMatchObject({ name: 'memory', local: true, maxKeys: 1_000_000 })
    expect(memoryStore({ maxKeys: 5 }).maxKeys).toBe(5)
  })

  it('counts a prefix and a policy name apart however their characters split between them', async () => {
    const store = memoryStore({ clock: manualClock(1_800_000_000_000) })
    const policy = (name: string) => fixedWindow({ name, limit: 5, window: '1 m' })
    const a = createRateLimiter({ policies: policy('xy'), prefix: 'p', store, logger: false })
    const b = createRateLimiter({ policies: policy('y'), prefix: 'px', store, logger: false })
    expect((await a.limit('client')).remaining).toBe(4)
    expect((await b.limit('client')).remaining).toBe(4)
    expect(store.size).toBe(2)
  })

  it('starts its scan statistics at 0, then counts the keys eviction looks at and passes again', async () => {
    const store = memoryStore({ clock: manualClock(1_800_000_000_000), maxKeys: 2 })
    expect([store.examined, store.rescanned]).toEqual([0, 0])
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 5, window: '1 m' }),
      store,
      logger: false,
    })
    for (const id of ['a', 'b', 'c']) await limiter.limit(id)
    // c needed room: the eviction scan started on the window's 2 keys and took the first, a.
    expect([store.examined, store.rescanned]).toEqual([1, 2])
  })

  describe('with a period longer than a Node.js timer waits (2^31 - 1 ms, about 24.8 days)', () => {
    afterEach(() => {
      vi.useRealTimers()
    })

    const DAYS_30 = 2_592_000_000
    // A window boundary, so that the waits are exact.
    const START = 1_000 * DAYS_30

    // A store that expired its keys by timers would have them fire after 1 ms (Node's behaviour for
    // a longer delay, which fake timers copy) and forget a limited client at once.
    it.each([
      { policy: fixedWindow({ name: 'f', limit: 2, window: '30 d' }), retryAfterMs: DAYS_30 },
      { policy: slidingWindow({ name: 's', limit: 2, window: '30 d' }), retryAfterMs: DAYS_30 * 1.5 },
      {
        policy: tokenBucket({ name: 'b', capacity: 2, refillRate: 1, interval: '30 d' }),
        retryAfterMs: DAYS_30,
      },
    ])(
      'keeps a client of $policy.kind limited until its retry time, not until a timer fires',
      async ({ policy, retryAfterMs }) => {
        vi.useFakeTimers()
        const clock = manualClock(START)
        const limiter = createRateLimiter({ policies: policy, store: memoryStore({ clock }), logger: false })
        await limiter.limit('a')
        await limiter.limit('a')
        expect(await limiter.limit('a')).toMatchObject({ allowed: false, reason: 'limited', retryAfterMs })
        // Every timer anyone set has fired; the store's clock has not moved.
        await vi.runAllTimersAsync()
        expect(await limiter.peek('a')).toMatchObject({ allowed: false, reason: 'limited', retryAfterMs })
        clock.advance(retryAfterMs - 1)
        expect(await limiter.limit('a')).toMatchObject({ allowed: false, retryAfterMs: 1 })
        clock.advance(1)
        expect(await limiter.limit('a')).toMatchObject({ allowed: true })
        await limiter.close()
      },
    )
  })
})
