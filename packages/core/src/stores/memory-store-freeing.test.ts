import { describe, expect, it } from 'vitest'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy } from '../policies/types.js'
import { manualClock } from '../testing/manual-clock.js'
import { memoryStore } from './memory-store.js'

const KEYS = 1_000_000
const START_MS = 1_700_000_000_000

function fill(store: ReturnType<typeof memoryStore>, policy: Policy, count: number): void {
  const policies = [policy]
  for (let i = 0; i < count; i++) {
    store.consume({ prefix: 'free', id: `client-${i}`, policies, cost: 1, peek: false })
  }
}

describe('memory store freeing', () => {
  it.each([
    ['fixed window', fixedWindow({ limit: 5, window: '1 s' }), 1_000],
    // The previous window still weighs on the current one: its keys go one window later.
    ['sliding window', slidingWindow({ limit: 5, window: '1 s' }), 2_000],
  ])(
    `frees ${KEYS.toLocaleString('en')} keys of a 1 s %s once their windows pass`,
    (_kind, policy, afterMs) => {
      const clock = manualClock(START_MS)
      const store = memoryStore({ clock, maxKeys: 2 * KEYS })
      fill(store, policy, KEYS)
      const peak = store.size
      expect(peak).toBe(KEYS)
      clock.advance(afterMs - 1)
      expect(store.size).toBe(KEYS) // one ms before, every key still counts
      clock.advance(1)
      expect(store.size).toBeLessThan(peak / 100)
      expect(store.size).toBe(0)
    },
    60_000,
  )

  it('sweeps token buckets a whole interval after they fill, a few at a time as other requests arrive, with no timer', () => {
    const clock = manualClock(START_MS)
    // One token refills in 200 ms: each bucket below is full again at START_MS + 200.
    const policy = tokenBucket({ capacity: 5, refillRate: 5, interval: '1 s' })
    const store = memoryStore({ clock })
    fill(store, policy, 100_000)
    expect(store.size).toBe(100_000)
    const policies = [policy]
    // Each call examines a few keys, so the sweep costs O(1) per call; 30,000 calls pass every key.
    const steadyCalls = () => {
      for (let i = 0; i < 30_000; i++) {
        store.consume({ prefix: 'free', id: 'steady', policies, cost: 1, peek: false })
      }
    }
    // Full, but not yet for a whole interval: a key coming back now still finds its entry.
    clock.advance(1_199)
    steadyCalls()
    expect(store.size).toBe(100_001)
    // Full for a whole interval: it carries no information, and the sweep frees it.
    clock.advance(1)
    steadyCalls()
    expect(store.size).toBe(1) // the steady key alone
  })

  it('frees expired token buckets while new identifiers keep arriving, with several slots sharing the sweeping', () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock })
    // A bucket full again 200 ms after one request, and three short windows whose keys pass whole.
    const policies = [
      tokenBucket({ name: 'bucket', capacity: 5, refillRate: 5, interval: '1 s' }),
      fixedWindow({ name: 'w1', limit: 5, window: 100 }),
      fixedWindow({ name: 'w2', limit: 5, window: 100 }),
      fixedWindow({ name: 'w3', limit: 5, window: 100 }),
    ]
    let largest = 0
    for (let i = 0; i < 20_000; i++) {
      store.consume({ prefix: 'p', id: `new-${i}`, policies, cost: 1, peek: false })
      clock.advance(1)
      largest = Math.max(largest, store.size)
    }
    // A bucket may go once it has been full for a whole interval: 1.2 s after its request, so
    // about 1,200 buckets at one new identifier per ms, and at most 300 window keys beside them.
    expect(largest).toBeLessThan(3_000)
  })
})
