import { describe, expect, it } from 'vitest'
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
