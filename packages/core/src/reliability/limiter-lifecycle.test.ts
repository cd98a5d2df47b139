import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../errors.js'
import { createRateLimiter } from '../limiter.js'
import { fakeBinding as binding } from '../middleware/fake-request.js'
import { createRateLimitHandler } from '../middleware/request-handler.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'

// Issue #5, exhaustion: limiters and middleware created by the thousand (an app that builds one per
// request, or a test suite) must leave nothing running behind them.

const policies = [
  fixedWindow({ name: 'fw', limit: 5, window: '1 m' }),
  slidingWindow({ name: 'sw', limit: 5, window: '1 h' }),
  tokenBucket({ name: 'tb', capacity: 5, refillRate: 1, interval: '1 d' }),
]

/** Timers, sockets and other handles that keep the event loop alive, by type. */
function activeResources(): string[] {
  return process.getActiveResourcesInfo().sort()
}

describe('limiters created and closed by the thousand', () => {
  it('1,000 limiters used and closed leave no active handle behind, and close() stays idempotent', async () => {
    const before = activeResources()
    const limiters = Array.from({ length: 1_000 }, () => createRateLimiter({ policies, logger: false }))
    for (const [i, limiter] of limiters.entries()) {
      expect((await limiter.limit(`user-${i}`)).allowed).toBe(true)
    }
    // Nothing was scheduled while they were open, either.
    expect(activeResources()).toEqual(before)
    await Promise.all(limiters.map((limiter) => limiter.close()))
    await Promise.all(limiters.map((limiter) => limiter.close()))
    expect(activeResources()).toEqual(before)
  })

  // A limiter of one policy decides on the memory store's single-policy path, which the limiters of
  // three policies above never take: it must schedule nothing either (no timer per key).
  it.each(policies)(
    'limiters of the one policy $name, used on 1,000 identifiers, leave no active handle behind',
    async (policy) => {
      const before = activeResources()
      const limiter = createRateLimiter({ policies: [policy], logger: false })
      for (let i = 0; i < 1_000; i++) expect((await limiter.limit(`user-${i}`)).allowed).toBe(true)
      expect(activeResources()).toEqual(before)
      await limiter.close()
      expect(activeResources()).toEqual(before)
    },
  )

  it('a closed limiter used again rejects with ERR_FLOODGATE_CLOSED, for every call', async () => {
    const limiter = createRateLimiter({ policies, logger: false })
    await limiter.limit('a')
    await limiter.close()
    await limiter.close()
    for (const call of [
      () => limiter.limit('a'),
      () => limiter.limit('a', { cost: 2 }),
      () => limiter.peek('a'),
      () => limiter.reset('a'),
    ]) {
      await expect(call()).rejects.toMatchObject({
        code: ERROR_CODES.CLOSED,
        message: expect.stringContaining('create a new one'),
      })
    }
  })

  it('1,000 middleware handlers created and used leave no active handle behind', async () => {
    const before = activeResources()
    const handlers = Array.from({ length: 1_000 }, () =>
      createRateLimitHandler({ policies, logger: false }, binding),
    )
    for (const [i, handler] of handlers.entries()) {
      const outcome = await handler.handle({ ip: `192.0.2.${i % 250}`, headers: {} })
      expect(outcome.action).toBe('pass')
    }
    expect(activeResources()).toEqual(before)
    await Promise.all(handlers.map((handler) => handler.limiter.close()))
    expect(activeResources()).toEqual(before)
    const reused = handlers[0]!.handle({ ip: '192.0.2.1', headers: {} })
    await expect(reused).rejects.toMatchObject({ code: ERROR_CODES.CLOSED })
  })
})
