import { describe, expect, it } from 'vitest'
import type { Decision } from './decision.js'
import { DenyCache, resolveDenyCache } from './deny-cache.js'
import { isFloodgateError } from './errors.js'

function denial(retryAfterMs: number, cost = 1, limit = 10): Decision {
  return {
    allowed: false,
    limit,
    remaining: 0,
    resetAtMs: 5_000,
    retryAfterMs,
    policy: 'p',
    tier: undefined,
    reason: 'limited',
    cost,
    nowMs: 1_000,
    policies: [
      {
        name: 'p',
        kind: 'fixed-window',
        limit,
        windowMs: 5_000,
        allowed: false,
        remaining: 0,
        resetAtMs: 5_000,
        retryAfterMs,
      },
    ],
  }
}

describe('DenyCache', () => {
  it('answers a denied identifier until its retry time, counted from when the request was sent', () => {
    let now = 100
    const cache = new DenyCache(10, () => now)
    cache.remember(undefined, 'a', denial(400), 100)
    now = 499
    expect(cache.get(undefined, 'a', 1)).toMatchObject({ allowed: false, retryAfterMs: 1, nowMs: 1_399 })
    now = 500
    expect(cache.get(undefined, 'a', 1)).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it('answers larger costs but sends smaller ones and impossible ones to the store', () => {
    const cache = new DenyCache(10, () => 0)
    cache.remember(undefined, 'a', denial(400, 3, 10), 0)
    expect(cache.get(undefined, 'a', 2)).toBeUndefined()
    expect(cache.get(undefined, 'a', 3)).toMatchObject({ cost: 3 })
    expect(cache.get(undefined, 'a', 10)).toMatchObject({ cost: 10 })
    expect(cache.get(undefined, 'a', 11)).toBeUndefined()
  })

  it('keeps tiers and identifiers apart', () => {
    const cache = new DenyCache(10, () => 0)
    cache.remember('free', 'a', denial(400), 0)
    expect(cache.get('pro', 'a', 1)).toBeUndefined()
    expect(cache.get(undefined, 'a', 1)).toBeUndefined()
    expect(cache.get('free', 'b', 1)).toBeUndefined()
    expect(cache.get('free', 'a', 1)).toBeDefined()
    // A tier name ending like another pair's prefix must not alias it.
    cache.remember('1:x', 'y', denial(400), 0)
    expect(cache.get('1', 'x\u00001:xy', 1)).toBeUndefined()
  })

  it('remembers only limited decisions with a finite wait', () => {
    const cache = new DenyCache(10, () => 0)
    cache.remember(
      undefined,
      'never',
      { ...denial(Number.POSITIVE_INFINITY), reason: 'cost-exceeds-limit' },
      0,
    )
    cache.remember(undefined, 'shadow', { ...denial(400), allowed: true, reason: 'shadow-limited' }, 0)
    cache.remember(undefined, 'error', { ...denial(0), allowed: false, reason: 'store-error' }, 0)
    expect(cache.size).toBe(0)
  })

  it('holds at most maxEntries, dropping the oldest first', () => {
    const cache = new DenyCache(2, () => 0)
    cache.remember(undefined, 'a', denial(400), 0)
    cache.remember(undefined, 'b', denial(400), 0)
    cache.remember(undefined, 'c', denial(400), 0)
    expect(cache.size).toBe(2)
    expect(cache.get(undefined, 'a', 1)).toBeUndefined()
    expect(cache.get(undefined, 'b', 1)).toBeDefined()
    expect(cache.get(undefined, 'c', 1)).toBeDefined()
  })

  it('forgets an identifier in every tier', () => {
    const cache = new DenyCache(10, () => 0)
    cache.remember('free', 'a', denial(400), 0)
    cache.remember('pro', 'a', denial(400), 0)
    cache.remember('pro', 'b', denial(400), 0)
    cache.forget('a')
    expect(cache.size).toBe(1)
  })
})

describe('the denyCache option', () => {
  it('is on by default for a remote store and off for a local one', () => {
    expect(resolveDenyCache(undefined, false)).toBeInstanceOf(DenyCache)
    expect(resolveDenyCache(undefined, true)).toBeUndefined()
    expect(resolveDenyCache(false, false)).toBeUndefined()
    expect(resolveDenyCache({ maxEntries: 5 }, true)?.maxEntries).toBe(5)
  })

  it('rejects a bad bound or an unknown option', () => {
    for (const bad of [{ maxEntries: 0 }, { maxEntries: 1.5 }, { maxEntry: 3 }, 'yes']) {
      let caught: unknown
      try {
        resolveDenyCache(bad, false)
      } catch (error) {
        caught = error
      }
      expect(isFloodgateError(caught)).toBe(true)
    }
  })
})
