import { afterEach, describe, expect, it, vi } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy } from '../policies/types.js'
import { memoryStore } from '../stores/memory-store.js'
import { manualClock } from '../testing/manual-clock.js'

// Issue #5, time: an NTP step or a VM resume moves the wall clock by an hour. Backward must never
// hand out quota again; forward is indistinguishable from an hour passing.

const HOUR_MS = 3_600_000
const START_MS = 480_000 * HOUR_MS + 30 * 60_000 // half past an hour

const kinds: [string, Policy][] = [
  ['fixed window', fixedWindow({ name: 'fw', limit: 3, window: '1 m' })],
  ['sliding window', slidingWindow({ name: 'sw', limit: 3, window: '1 m' })],
  ['token bucket', tokenBucket({ name: 'tb', capacity: 3, refillRate: 1, interval: '1 m' })],
]

/** A limiter on a memory store reading `clock`, with a trace of what it decided. */
function limiterOn(policy: Policy, clock: () => number) {
  const limiter = createRateLimiter({ policies: policy, store: memoryStore({ clock }), logger: false })
  return async (id = 'client') => {
    const d = await limiter.limit(id)
    return { allowed: d.allowed, remaining: d.remaining, retryAfterMs: d.retryAfterMs, nowMs: d.nowMs }
  }
}

describe('memory store with the wall clock jumping by an hour', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it.each(kinds)(
    '%s: a jump back by an hour re-opens no window and refills nothing',
    async (_kind, policy) => {
      const clock = manualClock(START_MS)
      const limit = limiterOn(policy, clock)
      for (let i = 0; i < 3; i++) expect((await limit()).allowed).toBe(true)
      const denied = await limit()
      expect(denied).toMatchObject({ allowed: false, remaining: 0 })
      clock.advance(-HOUR_MS)
      // The store holds its clock at the latest time it saw: the same answer, at the same instant.
      for (let i = 0; i < 3; i++) expect(await limit()).toEqual(denied)
      // Time then runs on from the jumped-back reading: nothing is admitted until the wall clock is
      // back past the denial's retry time.
      clock.advance(HOUR_MS + denied.retryAfterMs - 1)
      expect((await limit()).allowed).toBe(false)
      clock.advance(1)
      expect((await limit()).allowed).toBe(true)
    },
  )

  it.each(kinds)(
    '%s: a jump forward by an hour behaves exactly like an hour passing',
    async (_kind, policy) => {
      const jumping = manualClock(START_MS)
      const steady = manualClock(START_MS)
      const jumped = limiterOn(policy, jumping)
      const waited = limiterOn(policy, steady)
      const trace: [number, number][] = []
      for (let i = 0; i < 4; i++) trace.push([(await jumped()).remaining, (await waited()).remaining])
      jumping.advance(HOUR_MS)
      // The steady clock gets there in small steps, as real time would.
      for (let elapsed = 0; elapsed < HOUR_MS; elapsed += 60_000) steady.advance(60_000)
      for (let i = 0; i < 5; i++) {
        const a = await jumped()
        const b = await waited()
        expect(a).toEqual(b)
        trace.push([a.remaining, b.remaining])
      }
      expect(trace.map(([a]) => a)).toEqual([2, 1, 0, 0, 2, 1, 0, 0, 0])
      // Then a jump back to where it started changes nothing either.
      jumping.set(START_MS)
      expect(await jumped()).toEqual(await waited())
    },
  )

  it('the default clock is monotonic: setting the system clock an hour back or ahead moves no window', async () => {
    // A bucket refilling one token a day: with a monotonic clock the test's few real milliseconds
    // refill nothing, while a wall clock set a day ahead would refill it.
    const limiter = createRateLimiter({
      policies: tokenBucket({ capacity: 2, refillRate: 1, interval: '1 d' }),
      logger: false,
    })
    const first = await limiter.limit('client')
    await limiter.limit('client')
    const denied = await limiter.limit('client')
    expect(denied.allowed).toBe(false)
    vi.useFakeTimers({ toFake: ['Date'] })
    for (const jumpMs of [-HOUR_MS, 2 * 24 * HOUR_MS]) {
      vi.setSystemTime(Date.now() + jumpMs)
      const d = await limiter.limit('client')
      expect(d.allowed).toBe(false)
      // Decisions are stamped with the monotonic clock, not the jumped Date.now().
      expect(Math.abs(d.nowMs - first.nowMs)).toBeLessThan(HOUR_MS)
    }
    await limiter.close()
  })
})
