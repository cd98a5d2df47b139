import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../errors.js'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { manualClock } from '../testing/manual-clock.js'
import { memoryStore } from './memory-store.js'

describe('a closed memory store', () => {
  it('fails the calls of a limiter still using it, rather than counting afresh from zero', async () => {
    const store = memoryStore({ clock: manualClock(1_700_000_000_000) })
    const policies = fixedWindow({ limit: 2, window: '1 m' })
    const limiter = createRateLimiter({ policies, store, onStoreError: 'deny', logger: false })
    for (let i = 0; i < 2; i++) await limiter.limit('client')
    expect((await limiter.limit('client')).reason).toBe('limited')
    await store.close()
    const after = await limiter.limit('client')
    expect(after).toMatchObject({ allowed: false, reason: 'store-error' })
    expect(after.error?.code).toBe(ERROR_CODES.STORE_ERROR)
    expect(after.error?.message).toMatch(/^The memory store was closed/)
    expect((await limiter.peek('someone-else')).reason).toBe('store-error')
    await expect(limiter.reset('client')).rejects.toMatchObject({ code: ERROR_CODES.STORE_ERROR })
    expect(store.size).toBe(0)
  })

  it("lets go of its counters and of the last request's, so that they can be collected", async () => {
    const store = memoryStore({ clock: manualClock(1_700_000_000_000) })
    const policy = fixedWindow({ limit: 2, window: '1 m' })
    store.consume({ prefix: 'p', id: 'client', policies: [policy], cost: 1, peek: false })
    await store.close()
    expect((Reflect.get(store, 'slots') as Map<string, unknown>).size).toBe(0)
    expect(Reflect.get(store, 'slotList')).toEqual([])
    expect(Reflect.get(store, 'lastSlots')).toEqual([])
    expect((Reflect.get(store, 'cached') as WeakMap<object, unknown>).has(policy)).toBe(false)
  })
})
