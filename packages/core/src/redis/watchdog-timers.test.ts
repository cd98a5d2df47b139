import { Redis } from 'ioredis'
import { afterEach, expect, it, vi } from 'vitest'
import { redisStore } from './redis-store.js'

// The stall watchdog is one interval per store, set while calls wait. A store kept across tests (a
// module-level limiter) must not keep one set under a test's fake timers once they are gone: it
// would never fire, and a Redis that hangs would never be judged silent. No command is sent here.

afterEach(() => {
  vi.useRealTimers()
})

/** The store's private watchdog controls. */
function watchdogOf() {
  const client = new Redis({ lazyConnect: true, enableOfflineQueue: false })
  const store = redisStore({ client, logger: false }) as unknown as {
    watch(): void
    stopWatching(): void
    watchdog: ReturnType<typeof setInterval> | undefined
  }
  return store
}

it('sets the watchdog again under the fake timers of a later test', () => {
  const store = watchdogOf()
  vi.useFakeTimers() // one test
  store.watch()
  expect(vi.getTimerCount()).toBe(1)
  vi.useRealTimers()
  vi.useFakeTimers() // the next test's beforeEach: another fake clock
  store.watch()
  expect(vi.getTimerCount()).toBe(1)
  // Stopped with the clearInterval beside the setInterval that set it, not the one of the store's
  // making.
  store.stopWatching()
  expect(vi.getTimerCount()).toBe(0)
})

it('clears the watchdog set with the real timers when it is set again under fakes', () => {
  const store = watchdogOf()
  const real = globalThis.clearInterval
  const cleared: unknown[] = []
  globalThis.clearInterval = ((id?: Parameters<typeof clearInterval>[0]) => {
    cleared.push(id)
    real(id)
  }) as typeof clearInterval
  let first: unknown
  try {
    store.watch()
    first = store.watchdog
  } finally {
    globalThis.clearInterval = real
  }
  vi.useFakeTimers()
  store.watch()
  // The real interval would otherwise go on beating for the life of the process.
  expect(cleared).toEqual([first])
  store.stopWatching()
})

it("never keeps the process alive: the watchdog is unref'd", () => {
  const store = watchdogOf()
  store.watch()
  expect(store.watchdog?.hasRef()).toBe(false)
  store.stopWatching()
})

it('sets the watchdog again with the real timers once fakes of setInterval alone are gone', () => {
  const store = watchdogOf()
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] })
  store.watch()
  expect(vi.getTimerCount()).toBe(1)
  vi.useRealTimers()
  const real = globalThis.setInterval
  let set = 0
  globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
    set++
    return real(...args)
  }) as typeof setInterval
  try {
    store.watch()
  } finally {
    globalThis.setInterval = real
  }
  expect(set).toBe(1)
  store.stopWatching()
})
