import { describe, expect, it } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy } from '../policies/types.js'
import { manualClock } from '../testing/manual-clock.js'
import { memoryStore } from './memory-store.js'
import { type KeyCounter, Scan } from './slot.js'

/** Whether a scan still holds a map iterator (which keeps every table the map was rebuilt into). */
const holdsIterator = (scan: unknown) => Reflect.get(scan as object, 'iterator') !== undefined
/** A scan of the store's first slot, by the slot's field name. */
const scanOf = (store: object, name: string): unknown =>
  Reflect.get((Reflect.get(store, 'slotList') as object[])[0]!, name)

describe('a resumable scan', () => {
  it('lets its iterator go once as many deletions as the map holds were made while it stood still', () => {
    const keys: KeyCounter = { size: 0, examined: 0, rescanned: 0 }
    const map = new Map(Array.from({ length: 10 }, (_, i) => [`k${i}`, i] as const))
    const scan = new Scan<number>(keys)
    expect(scan.next(map)?.[0]).toBe('k0')
    for (let i = 9; i > 4; i--) {
      map.delete(`k${i}`)
      scan.deleted(map.size)
    }
    expect(holdsIterator(scan)).toBe(true) // 5 deletions, 5 entries left
    map.delete('k4')
    scan.deleted(map.size)
    expect(holdsIterator(scan)).toBe(false)
    // It starts over from the first entry, counted as a rescan.
    expect(scan.next(map)?.[0]).toBe('k0')
    expect(keys.rescanned).toBe(10 + 4)
  })

  it('counts only deletions made since its last step', () => {
    const map = new Map([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ])
    const scan = new Scan<number>({ size: 0, examined: 0, rescanned: 0 })
    scan.next(map)
    for (let i = 0; i < 10; i++) {
      scan.deleted(3)
      if (i % 3 === 2) scan.next(map)
    }
    expect(holdsIterator(scan)).toBe(true)
  })

  it('counts each entry it returns as examined, wrapping around to the first', () => {
    const keys: KeyCounter = { size: 0, examined: 0, rescanned: 0 }
    const map = new Map([
      ['a', 1],
      ['b', 2],
    ])
    const scan = new Scan<number>(keys)
    expect([scan.next(map)?.[0], scan.next(map)?.[0], scan.next(map)?.[0]]).toEqual(['a', 'b', 'a'])
    expect(keys.examined).toBe(3)
    expect(scan.next(new Map())).toBeUndefined()
    expect(keys.examined).toBe(3)
  })

  it('lets go of a map that was replaced, so that it can be collected', () => {
    const map = new Map([['a', 1]])
    const scan = new Scan<number>({ size: 0, examined: 0, rescanned: 0 })
    scan.next(map)
    expect(Reflect.get(scan, 'map')).toBe(map)
    scan.forget()
    expect(Reflect.get(scan, 'map')).toBeUndefined()
    expect(holdsIterator(scan)).toBe(false)
  })
})

describe("a token bucket slot's eviction scan", () => {
  it('is let go while the store churns below maxKeys after it was once full', async () => {
    const clock = manualClock(1_700_000_000_000)
    const store = memoryStore({ clock, maxKeys: 100 })
    const limiter = createRateLimiter({
      policies: tokenBucket({ capacity: 2, refillRate: 1, interval: '1 s' }),
      store,
      logger: false,
    })
    for (let i = 0; i < 101; i++) await limiter.limit(`burst-${i}`) // full once: eviction ran
    const evictScan = scanOf(store, 'evictScan')
    expect(holdsIterator(evictScan)).toBe(true)
    // New identifiers, each bucket swept once full for an interval: the store stays below maxKeys.
    for (let i = 0; i < 2_000; i++) {
      await limiter.limit(`client-${i}`)
      clock.advance(100)
    }
    expect(store.size).toBeLessThan(100)
    expect(holdsIterator(evictScan)).toBe(false)
  })
})

/** A store of `maxKeys` on a clock at a minute boundary, and a limiter of `policy` on it. */
function atMinute(policy: Policy, maxKeys: number) {
  const clock = manualClock(28_333_333 * 60_000)
  const store = memoryStore({ clock, maxKeys })
  return { clock, store, limiter: createRateLimiter({ policies: policy, store, logger: false }) }
}

describe("a sliding window slot's eviction scans", () => {
  /** Full one window on: eviction took a key of the previous window, whose scan is held. */
  async function evictedFromPrevious() {
    const made = atMinute(slidingWindow({ limit: 5, window: '1 m' }), 3)
    for (const id of ['a', 'b', 'c']) await made.limiter.limit(id)
    made.clock.advance(60_000)
    await made.limiter.limit('d')
    return { ...made, previousScan: scanOf(made.store, 'previousScan') }
  }

  it('let go of the maps of a passed window when time moves into the next', async () => {
    const { clock, store, limiter } = atMinute(slidingWindow({ limit: 5, window: '1 m' }), 2)
    for (const id of ['a', 'b', 'c']) await limiter.limit(id) // full once: eviction ran in `current`
    expect(holdsIterator(scanOf(store, 'currentScan'))).toBe(true)
    clock.advance(60_000)
    expect(store.size).toBe(2) // the counts move to the previous window
    expect(holdsIterator(scanOf(store, 'currentScan'))).toBe(false)
    expect(holdsIterator(scanOf(store, 'previousScan'))).toBe(false)
  })

  it("let go of the previous window's scan once as many deletions as it holds were made while it stood still", async () => {
    const { limiter, previousScan } = await evictedFromPrevious()
    expect(holdsIterator(previousScan)).toBe(true)
    for (const id of ['a', 'b', 'c']) await limiter.reset(id)
    expect(holdsIterator(previousScan)).toBe(false)
  })

  it("let go of the previous window's map when time moves on, once eviction ran in it", async () => {
    const { clock, store, previousScan } = await evictedFromPrevious()
    expect(holdsIterator(previousScan)).toBe(true)
    clock.advance(60_000)
    expect(store.size).toBe(1) // d's count, now the previous window's
    expect(holdsIterator(previousScan)).toBe(false)
    expect(Reflect.get(previousScan as object, 'map')).toBeUndefined()
  })

  it("let go of the current window's scan once as many deletions as it holds were made while it stood still", async () => {
    const { store, limiter } = atMinute(slidingWindow({ limit: 5, window: '1 m' }), 3)
    for (const id of ['a', 'b', 'c', 'd']) await limiter.limit(id) // full: eviction takes a key of the current window
    const currentScan = scanOf(store, 'currentScan')
    expect(holdsIterator(currentScan)).toBe(true)
    await limiter.reset('b')
    expect(holdsIterator(currentScan)).toBe(true) // 2 deletions since its last step (a and b), 2 keys left
    await limiter.reset('c')
    expect(holdsIterator(currentScan)).toBe(false)
  })
})

describe("a token bucket slot's sweep scan", () => {
  it('is let go once as many deletions as it holds were made while it stood still', async () => {
    const store = memoryStore({ clock: manualClock(1_700_000_000_000) })
    const limiter = createRateLimiter({
      policies: tokenBucket({ capacity: 2, refillRate: 1, interval: '1 s' }),
      store,
      logger: false,
    })
    for (const id of ['a', 'b', 'c']) await limiter.limit(id) // each new bucket sweeps where it grows
    const sweepScan = scanOf(store, 'sweepScan')
    expect(holdsIterator(sweepScan)).toBe(true)
    await limiter.reset('a') // a reset sweeps nothing
    expect(holdsIterator(sweepScan)).toBe(true) // 1 deletion since its last step, 2 keys left
    await limiter.reset('b')
    expect(holdsIterator(sweepScan)).toBe(false)
  })
})

describe("a fixed window slot's eviction scan", () => {
  const make = (maxKeys: number) => atMinute(fixedWindow({ limit: 5, window: '1 m' }), maxKeys)

  it('lets go of the map of a passed window when time moves into the next', async () => {
    const { clock, store, limiter } = make(2)
    for (const id of ['a', 'b', 'c']) await limiter.limit(id) // full once: eviction ran
    const scan = scanOf(store, 'scan')
    expect(holdsIterator(scan)).toBe(true)
    clock.advance(60_000)
    expect(store.size).toBe(0)
    expect(holdsIterator(scan)).toBe(false)
    expect(Reflect.get(scan as object, 'map')).toBeUndefined()
  })

  it('is let go once as many deletions as the window holds were made while it stood still', async () => {
    const { store, limiter } = make(3)
    for (const id of ['a', 'b', 'c', 'd']) await limiter.limit(id) // full: eviction takes a
    const scan = scanOf(store, 'scan')
    expect(holdsIterator(scan)).toBe(true)
    await limiter.reset('b')
    expect(holdsIterator(scan)).toBe(true) // 2 deletions since its last step (a and b), 2 keys left
    await limiter.reset('c')
    expect(holdsIterator(scan)).toBe(false)
  })
})
