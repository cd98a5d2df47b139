import { describe, expect, it } from 'vitest'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy } from '../policies/types.js'
import { manualClock } from '../testing/manual-clock.js'
import { memoryStore } from './memory-store.js'
import type { KeyCounter } from './slot.js'

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

  it("sweeps every counter's token buckets in turn as requests to another counter arrive", () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock })
    const steady = [fixedWindow({ name: 'steady', limit: 1_000, window: '1 h' })]
    const buckets = [tokenBucket({ name: 'bucket', capacity: 5, refillRate: 5, interval: '1 s' })]
    // The window counter is the store's first counter; the bucket counter, the second, then gets no more requests.
    store.consume({ prefix: 'p', id: 'steady', policies: steady, cost: 1, peek: false })
    for (let i = 0; i < 100; i++)
      store.consume({ prefix: 'p', id: `client-${i}`, policies: buckets, cost: 1, peek: false })
    expect(store.size).toBe(101)
    clock.advance(1_200) // every bucket full for a whole interval
    // Each call sweeps 4 keys of the counter whose turn it is: 100 calls give the bucket counter 50 turns.
    for (let i = 0; i < 100; i++)
      store.consume({ prefix: 'p', id: 'steady', policies: steady, cost: 1, peek: false })
    expect(store.size).toBe(1)
  })

  it("frees an idle counter's passed window as requests to another counter arrive, before anything reads the size", () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock })
    const idle = [fixedWindow({ name: 'idle', limit: 5, window: '1 s' })]
    const busy = [fixedWindow({ name: 'busy', limit: 1_000, window: '1 h' })]
    for (let i = 0; i < 100; i++)
      store.consume({ prefix: 'p', id: `client-${i}`, policies: idle, cost: 1, peek: false })
    store.consume({ prefix: 'p', id: 'steady', policies: busy, cost: 1, peek: false })
    clock.advance(1_000) // the idle counter's window has passed
    // Two calls: the rotation comes round to the idle counter, which moves to the new window.
    for (let i = 0; i < 2; i++)
      store.consume({ prefix: 'p', id: 'steady', policies: busy, cost: 1, peek: false })
    // The store's own count, read without `size` (which brings every counter up to now itself).
    expect((Reflect.get(store, 'keys') as KeyCounter).size).toBe(1)
    const [idleSlot] = Reflect.get(store, 'slotList') as object[]
    expect((Reflect.get(idleSlot!, 'current') as Map<string, number>).size).toBe(0)
  })

  it("sweeps 2 of a bucket counter's keys where a new bucket arrives, on top of the 4 of the store's rotation", () => {
    const store = memoryStore({ clock: manualClock(START_MS) })
    const policies = [tokenBucket({ capacity: 5, refillRate: 5, interval: '1 s' })]
    for (let i = 0; i < 10; i++)
      store.consume({ prefix: 'p', id: `client-${i}`, policies, cost: 1, peek: false })
    const before = store.examined
    store.consume({ prefix: 'p', id: 'newcomer', policies, cost: 1, peek: false })
    expect(store.examined - before).toBe(6)
    expect(store.size).toBe(11) // none of them full yet: nothing to free
    const again = store.examined
    store.consume({ prefix: 'p', id: 'newcomer', policies, cost: 1, peek: false }) // not new: the rotation's 4 alone
    expect(store.examined - again).toBe(4)
  })

  it('sweeps token buckets as requests of several policies arrive for an identifier it holds', () => {
    const clock = manualClock(START_MS)
    const store = memoryStore({ clock })
    const policies = [
      tokenBucket({ name: 'bucket', capacity: 5, refillRate: 5, interval: '1 s' }),
      fixedWindow({ name: 'window', limit: 1_000, window: '1 s' }),
    ]
    const consume = (id: string) => store.consume({ prefix: 'p', id, policies, cost: 1, peek: false })
    for (let i = 0; i < 100; i++) consume(`client-${i}`)
    consume('steady')
    expect(store.size).toBe(202)
    clock.advance(1_200) // every bucket full for a whole interval; the window's keys passed with it
    // Each call sweeps 4 keys of the counter whose turn it is: 100 calls give the bucket counter 50 turns.
    for (let i = 0; i < 100; i++) consume('steady')
    expect(store.size).toBe(2) // the steady identifier's bucket and window count
  })

  it('keeps no record for a reset under a prefix or policy it never counted', () => {
    const store = memoryStore({ clock: manualClock(START_MS) })
    for (let i = 0; i < 10; i++) {
      store.reset({
        prefix: `tenant-${i}`,
        id: 'client',
        policies: [fixedWindow({ limit: 5, window: '1 m' })],
      })
    }
    expect(store.size).toBe(0)
    expect(Reflect.get(store, 'slotList')).toEqual([])
    expect((Reflect.get(store, 'slots') as Map<string, unknown>).size).toBe(0)
  })
})
