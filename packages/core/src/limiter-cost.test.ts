import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from './errors.js'
import { rateLimitHeaders } from './headers.js'
import { createRateLimiter } from './limiter.js'
import { fixedWindow } from './policies/fixed-window.js'
import { tokenBucket } from './policies/token-bucket.js'
import type { RateLimitStore } from './store.js'
import { memoryStore } from './stores/memory-store.js'
import { manualClock } from './testing/manual-clock.js'

/** A memory store that counts every call made to it. */
function countingStore() {
  const inner = memoryStore({ clock: manualClock(1_000_000) })
  const calls = { consume: 0, reset: 0 }
  const store: RateLimitStore = {
    name: 'counting',
    local: true,
    consume: (request) => {
      calls.consume += 1
      return inner.consume(request)
    },
    reset: (request) => {
      calls.reset += 1
      return inner.reset(request)
    },
    close: () => inner.close(),
  }
  return { store, calls }
}

describe('request options', () => {
  it('refuses options that would have charged a cost of 1 silently, before the store is touched', async () => {
    const { store, calls } = countingStore()
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 5, window: '1 m' }),
      store,
      logger: false,
    })
    // rate-limiter-flexible's consume(key, points), and its option name.
    await expect(limiter.limit('a', 5 as never)).rejects.toMatchObject({
      code: ERROR_CODES.INVALID_OPTION,
      message: expect.stringContaining('`limit(id, { cost: 5 })`'),
    })
    await expect(limiter.limit('a', { points: 5 } as never)).rejects.toMatchObject({
      code: ERROR_CODES.UNKNOWN_OPTION,
      message: expect.stringContaining('The units a request takes are `cost`'),
    })
    await expect(limiter.peek('a', { cots: 2 } as never)).rejects.toThrow(
      /"cots" in peek\(\)\. Did you mean `cost`\?/,
    )
    // Objects that give no options of their own: an array, a Map, a boxed number, an inheritor.
    for (const options of [[], new Map([['cost', 5]]), Object(5), Object.create({ points: 5 })]) {
      await expect(limiter.limit('a', options)).rejects.toMatchObject({ code: ERROR_CODES.INVALID_OPTION })
    }
    // A function is no options object, whatever it carries.
    await expect(
      limiter.limit('a', Object.assign(() => undefined, { cost: 2 }) as never),
    ).rejects.toMatchObject({
      code: ERROR_CODES.INVALID_OPTION,
    })
    expect(calls.consume).toBe(0)
    // Given as undefined, or beside a known one, nothing is refused.
    expect((await limiter.limit('a', { cost: undefined, tier: undefined })).remaining).toBe(4)
    expect((await limiter.limit('a', { cost: 1, points: 5 } as never)).remaining).toBe(3)
    // Nor is an object of a class of its own that gives one (the names are checked only without either).
    expect(
      (
        await limiter.limit(
          'a',
          new (class {
            cost = 2
          })(),
        )
      ).remaining,
    ).toBe(1)
  })

  it('says once that a tier was asked of a limiter without tiers, whose policies apply', async () => {
    const warnings: string[] = []
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 5, window: '1 m' }),
      logger: { warn: (line) => warnings.push(line) },
    })
    for (const tier of ['pro', 'pro', 'free']) {
      expect(await limiter.limit('a', { tier })).toMatchObject({ allowed: true, tier: undefined })
    }
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('Tier "pro" was asked for, but this limiter has no tiers')
  })

  it('says nothing of tiers to a limiter without tiers given a cost and no tier', async () => {
    const warnings: string[] = []
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 5, window: '1 m' }),
      // A clock that stands still: no window end between the limit() and the peek() it counts for.
      store: memoryStore({ clock: manualClock(1_000_000) }),
      logger: { warn: (line) => warnings.push(line) },
    })
    expect(await limiter.limit('a', { cost: 2 })).toMatchObject({
      allowed: true,
      tier: undefined,
      remaining: 3,
    })
    expect(await limiter.peek('a', { cost: 1, tier: undefined })).toMatchObject({
      tier: undefined,
      remaining: 2,
    })
    expect(warnings).toEqual([])
    // The one warning is kept for a tier actually asked for.
    await limiter.limit('a', { tier: 'pro' })
    expect(warnings).toHaveLength(1)
  })

  it('takes null options as no options', async () => {
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 5, window: '1 m' }),
      store: memoryStore({ clock: manualClock(1_000_000) }), // standing still: no window end between calls
    })
    expect(await limiter.limit('a', null as never)).toMatchObject({ allowed: true, remaining: 4 })
    expect(await limiter.peek('a', null as never)).toMatchObject({ allowed: true, remaining: 3 })
  })
})

describe('request cost', () => {
  it.each([Number.NaN, -1, 0, 0.5, '5', Number.POSITIVE_INFINITY, 2 ** 53, null])(
    'rejects a cost of %s with ERR_FLOODGATE_INVALID_COST before the store is touched',
    async (cost) => {
      const { store, calls } = countingStore()
      const limiter = createRateLimiter({ policies: fixedWindow({ limit: 5, window: '1 m' }), store })
      for (const call of [limiter.limit, limiter.peek]) {
        await expect(call.call(limiter, 'a', { cost: cost as number })).rejects.toMatchObject({
          code: ERROR_CODES.INVALID_COST,
          option: 'cost',
        })
      }
      expect(calls.consume).toBe(0)
    },
  )

  it('rejects an identifier that is not a string before the store is touched', async () => {
    const { store, calls } = countingStore()
    const limiter = createRateLimiter({ policies: fixedWindow({ limit: 5, window: '1 m' }), store })
    await expect(limiter.limit(42 as unknown as string)).rejects.toMatchObject({
      code: ERROR_CODES.INVALID_IDENTIFIER,
    })
    await expect(limiter.reset(undefined as unknown as string)).rejects.toMatchObject({
      code: ERROR_CODES.INVALID_IDENTIFIER,
    })
    expect(calls).toEqual({ consume: 0, reset: 0 })
  })

  it('charges a valid cost above 1', async () => {
    const { store } = countingStore()
    const limiter = createRateLimiter({ policies: fixedWindow({ limit: 5, window: '1 m' }), store })
    expect(await limiter.limit('a', { cost: 3 })).toMatchObject({ allowed: true, remaining: 2, cost: 3 })
    expect(await limiter.limit('a', { cost: 3 })).toMatchObject({ allowed: false, remaining: 2, cost: 3 })
  })

  it('denies a cost above the limit as never admissible, with no Retry-After, charging nothing', async () => {
    const { store } = countingStore()
    const limiter = createRateLimiter({
      policies: [
        fixedWindow({ name: 'hourly', limit: 10, window: '1 h' }),
        tokenBucket({ name: 'burst', capacity: 3, refillRate: 1, interval: '1 s' }),
      ],
      store,
    })
    const d = await limiter.limit('a', { cost: 5 })
    expect(d).toMatchObject({
      allowed: false,
      reason: 'cost-exceeds-limit',
      retryAfterMs: Number.POSITIVE_INFINITY,
      policy: 'burst',
      limit: 3,
    })
    const headers = rateLimitHeaders(d, ['draft-8', 'legacy'])
    expect(headers['Retry-After']).toBeUndefined()
    expect(headers.RateLimit).toBe('"hourly";r=10;t=2600, "burst";r=3;t=0')
    for (const format of ['draft-7', 'draft-6'] as const) {
      expect(rateLimitHeaders(d, [format])['Retry-After']).toBeUndefined()
    }
    const next = await limiter.limit('a', { cost: 3 })
    expect(next.policies.map((p) => [p.name, p.remaining])).toEqual([
      ['hourly', 7],
      ['burst', 0],
    ])
  })
})
