import { describe, expect, it } from 'vitest'
import { rateLimitHeaders } from './headers.js'
import { createRateLimiter } from './limiter.js'
import { fixedWindow } from './policies/fixed-window.js'
import type { RateLimitStore } from './store.js'
import { memoryStore } from './stores/memory-store.js'
import { manualClock } from './testing/manual-clock.js'

describe("mode: 'shadow'", () => {
  it('counts and reports like enforce mode but never denies', async () => {
    const clock = manualClock(3_600_000)
    const store = memoryStore({ clock })
    const policies = fixedWindow({ limit: 2, window: '1 m' })
    const shadow = createRateLimiter({ policies, store, mode: 'shadow' })
    const decisions = []
    for (let i = 0; i < 5; i++) decisions.push(await shadow.limit('s'))
    expect(decisions.map((d) => [d.allowed, d.reason, d.remaining])).toEqual([
      [true, 'allowed', 1],
      [true, 'allowed', 0],
      [true, 'shadow-limited', 0],
      [true, 'shadow-limited', 0],
      [true, 'shadow-limited', 0],
    ])
    // It reports the wait an enforcing limiter would impose, without a Retry-After.
    expect(decisions[2]!.retryAfterMs).toBe(60_000)
    expect(rateLimitHeaders(decisions[2]!, ['draft-8'])).toEqual({
      'RateLimit-Policy': '"fixed-window";q=2;w=60',
      RateLimit: '"fixed-window";r=0;t=60',
    })
    // The admitted requests were counted: an enforcing limiter on the same counters denies.
    const enforce = createRateLimiter({ policies, store })
    expect(await enforce.limit('s')).toMatchObject({ allowed: false, reason: 'limited' })
    clock.advance(60_000)
    expect(await shadow.limit('s')).toMatchObject({ allowed: true, reason: 'allowed', remaining: 1 })
  })

  it("lets a request through when the store fails, under onStoreError 'deny' too, and says why", async () => {
    // A rollout deploys the final configuration in shadow first: a store outage must not refuse
    // requests while nothing is meant to be refused.
    const lines: string[] = []
    const failures: unknown[] = []
    const failing: RateLimitStore = {
      name: 'failing',
      local: false,
      consume: () => Promise.reject(new Error('connection refused')),
      reset: () => Promise.resolve(),
      close: () => Promise.resolve(),
    }
    const options = {
      policies: fixedWindow({ limit: 2, window: '1 m' }),
      store: failing,
      onStoreError: 'deny' as const,
      onStoreFailure: (error: unknown) => void failures.push(error),
      logger: { warn: (line: string) => void lines.push(line) },
    }
    const shadow = createRateLimiter({ ...options, mode: 'shadow' })
    expect(await shadow.limit('s')).toMatchObject({ allowed: true, reason: 'store-error' })
    expect(lines).toEqual([
      expect.stringMatching(
        /connection refused.*Requests of the limiter with prefix "floodgate" \(policy "[^"]+"\) are allowed \(mode: 'shadow', which never denies; onStoreError: 'deny' applies in mode 'enforce'\)/s,
      ),
    ])
    expect(failures).toHaveLength(1)
    // The same limiter enforcing denies, as configured.
    const enforce = createRateLimiter(options)
    expect(await enforce.limit('s')).toMatchObject({ allowed: false, reason: 'store-error' })
    // Under onStoreError 'allow' the line says that, as in mode 'enforce': the mode changes nothing.
    lines.length = 0
    const allowing = createRateLimiter({ ...options, onStoreError: 'allow', mode: 'shadow' })
    expect(await allowing.limit('s')).toMatchObject({ allowed: true, reason: 'store-error' })
    expect(lines).toEqual([
      expect.stringMatching(/\) are allowed \(onStoreError: 'allow'\) until the store answers/),
    ])
  })
})
