import { performance as realPerformance } from 'node:perf_hooks'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy } from '../policies/types.js'
import type { StoreRequest, StoreResponse } from '../store.js'
import { manualClock } from '../testing/manual-clock.js'
import { memoryStore } from './memory-store.js'

const request = (policy: Policy, peek = false) => ({
  prefix: 'c',
  id: 'a',
  policies: [policy],
  cost: 1,
  peek,
})

/** The memory store answers synchronously. */
function syncStore(clock: () => number) {
  const store = memoryStore({ clock })
  return { consume: (r: StoreRequest) => store.consume(r) as StoreResponse }
}

describe('memory store clock', () => {
  it.each([
    ['fixed window', fixedWindow({ limit: 2, window: '1 s' })],
    ['sliding window', slidingWindow({ limit: 2, window: '1 s' })],
  ])('%s: a clock stepping backward does not re-open a window', (_kind, policy) => {
    const clock = manualClock(10_500)
    const store = syncStore(clock)
    store.consume(request(policy))
    store.consume(request(policy))
    const denied = store.consume(request(policy))
    expect(denied.outcomes[0]!.allowed).toBe(false)
    clock.set(9_999) // back into the previous window
    const after = store.consume(request(policy))
    expect(after).toEqual(denied)
    expect(after.nowMs).toBe(10_500)
  })

  it('token bucket: a clock stepping backward and forward again refills only for real elapsed time', () => {
    const policy = tokenBucket({ capacity: 2, refillRate: 1, interval: '1 s' })
    const clock = manualClock(10_000)
    const store = syncStore(clock)
    store.consume(request(policy))
    store.consume(request(policy))
    clock.set(4_000)
    expect(store.consume(request(policy)).outcomes[0]).toMatchObject({ allowed: false, retryAfterMs: 1_000 })
    clock.set(10_999)
    expect(store.consume(request(policy)).outcomes[0]).toMatchObject({ allowed: false, retryAfterMs: 1 })
    clock.set(11_000)
    expect(store.consume(request(policy)).outcomes[0]).toMatchObject({ allowed: true, remaining: 0 })
  })
})

describe("a given clock's readings", () => {
  it('are taken in whole ms, as the Redis store takes them; a reading that is no epoch ms fails the call', () => {
    const policy = tokenBucket({ capacity: 2, refillRate: 1, interval: '1 s' })
    let reading: unknown = 10_000.75
    const store = syncStore(() => reading as number)
    expect(store.consume(request(policy))).toMatchObject({ nowMs: 10_000, outcomes: [{ resetAtMs: 11_000 }] })
    reading = 10_999.999
    expect(store.consume(request(policy)).nowMs).toBe(10_999)
    for (const bad of [Number.NaN, undefined, new Date(20_000), Number.POSITIVE_INFINITY, 1e300, -1, -0.5]) {
      reading = bad
      expect(() => store.consume(request(policy))).toThrow(
        expect.objectContaining({
          code: 'ERR_FLOODGATE_STORE_ERROR',
          message: expect.stringContaining("memory store's clock returned"),
        }),
      )
    }
  })

  it('take a reading of 0, the epoch, as a time like any other', () => {
    const policy = fixedWindow({ limit: 2, window: '1 s' })
    const store = syncStore(() => 0)
    expect(store.consume(request(policy))).toEqual({
      nowMs: 0,
      outcomes: [{ allowed: true, remaining: 1, resetAtMs: 1_000, retryAfterMs: 0 }],
    })
  })
})

describe("memory store's default clock under a test's fake timers", () => {
  afterEach(() => {
    vi.useRealTimers()
    vi.resetModules()
  })

  it('keeps to the process clock when they were installed before the store loaded, and once they are gone', async () => {
    // As a test setup file does: the fakes are in place before Floodgate is imported.
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval', 'Date', 'performance'] })
    vi.resetModules()
    const { memoryStore: loadedUnderFakes } = await import('./memory-store.js')
    const store = loadedUnderFakes()
    // This is the real-clock path itself, so no clock is injected: a window of a day (ending only at
    // midnight UTC) keeps a window end from falling between the decisions, which must stay denied.
    const policy = fixedWindow({ limit: 1, window: '1 d' })
    const processMs = () => Math.floor(realPerformance.timeOrigin + realPerformance.now())
    const decide = () => {
      const before = processMs()
      const response = store.consume(request(policy)) as StoreResponse
      expect(response.nowMs).toBeGreaterThanOrEqual(before)
      expect(response.nowMs).toBeLessThanOrEqual(processMs())
      return response.outcomes[0]!
    }
    expect(decide().allowed).toBe(true)
    // The fakes move; the store's clock does not (docs/stores.md: give it `clock` to follow them).
    vi.advanceTimersByTime(86_401_000) // past the end of the day's window, on the fakes' clock
    expect(decide().allowed).toBe(false)
    // Gone: the store still reads the process clock, not the fakes' last reading.
    vi.useRealTimers()
    expect(decide().allowed).toBe(false)
  })
})
