import { runStoreConformance } from '@floodgate/core/testing'
import { describe, expect, it } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
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
})
