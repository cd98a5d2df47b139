import { expectNoUnhandledRejections } from '@floodgate/tools'
import { describe, expect, it, vi } from 'vitest'
import { ERROR_CODES, isFloodgateError } from './errors.js'
import { createRateLimiter } from './limiter.js'
import { fixedWindow } from './policies/fixed-window.js'
import type { RateLimitStore } from './store.js'
import { memoryStore } from './stores/memory-store.js'
import { KEYS_PER_CODE, WARNING_CODES, Warnings } from './warnings.js'

function limiterWith(silenceWarnings?: string[]) {
  const lines: string[] = []
  const free = fixedWindow({ name: 'minute', limit: 10, window: '1 m' })
  const limiter = createRateLimiter({
    tiers: { free: [free] },
    defaultTier: 'free',
    store: memoryStore({ clock: () => 1_700_000_000_000 }),
    logger: { warn: (line) => lines.push(line) },
    // biome-ignore lint/suspicious/noExplicitAny: a wrong value is what the last test passes
    ...(silenceWarnings === undefined ? {} : { silenceWarnings: silenceWarnings as any }),
  })
  return { limiter, lines }
}

describe('warnings', () => {
  it('logs each code once with its WARN_FLOODGATE_* code first', async () => {
    const { limiter, lines } = limiterWith()
    await limiter.limit('a', { tier: 'gold' })
    await limiter.limit('b', { tier: 'gold' })
    await limiter.limit('c', { tier: 'platinum' })
    expect(lines).toHaveLength(2)
    expect(lines.every((l) => l.startsWith(`[floodgate] ${WARNING_CODES.UNKNOWN_TIER}: `))).toBe(true)
  })

  it('silences the codes listed in silenceWarnings, one by one', async () => {
    const { limiter, lines } = limiterWith([WARNING_CODES.UNKNOWN_TIER])
    await limiter.limit('a', { tier: 'gold' })
    expect(lines).toEqual([])
    limiter.warnings.warn(WARNING_CODES.CLIENT_SETTINGS, 'still logged')
    expect(lines).toEqual([`[floodgate] ${WARNING_CODES.CLIENT_SETTINGS}: still logged`])
  })

  it('builds a message given as a function only for a line it writes', () => {
    const lines: string[] = []
    let built = 0
    const message = () => `built ${++built}`
    const warnings = new Warnings(
      { warn: (line) => lines.push(line) },
      () => 0,
      new Set([WARNING_CODES.UNKNOWN_TIER]),
    )
    for (let i = 0; i < 3; i++) warnings.warn(WARNING_CODES.SHARED_COUNTERS, message)
    warnings.warn(WARNING_CODES.UNKNOWN_TIER, message)
    expect(lines).toEqual(['[floodgate] WARN_FLOODGATE_SHARED_COUNTERS: built 1'])
    expect(built).toBe(1)
    new Warnings(false).warn(WARNING_CODES.SHARED_COUNTERS, message)
    expect(built).toBe(1)
  })

  it('rejects a silenceWarnings entry that is not a warning code, at construction', () => {
    let error: unknown
    try {
      limiterWith(['WARN_FLOODGATE_UNKNOWN_TEIR'])
    } catch (caught) {
      error = caught
    }
    expect(isFloodgateError(error, ERROR_CODES.INVALID_OPTION)).toBe(true)
    expect((error as Error).message).toContain('WARN_FLOODGATE_UNKNOWN_TEIR')
  })

  it("keeps each code's keys apart: a flood of request-chosen keys cannot silence another code", async () => {
    const { limiter, lines } = limiterWith()
    for (let i = 0; i < 1_000; i++) await limiter.limit('a', { tier: `bogus-${i}` })
    // docs/errors.md: an unknown tier is logged once per name, for at most 100 names.
    expect(lines).toHaveLength(100)
    limiter.warnings.warn(WARNING_CODES.UNKNOWN_CLIENT_IP, 'still logged')
    limiter.warnings.warn(WARNING_CODES.STORE_FAILURE, 'a new store error', 60_000, 'ERR_X')
    expect(lines.slice(KEYS_PER_CODE)).toEqual([
      `[floodgate] ${WARNING_CODES.UNKNOWN_CLIENT_IP}: still logged`,
      `[floodgate] ${WARNING_CODES.STORE_FAILURE}: a new store error`,
    ])
  })

  it('writes a line given no repeatMs once, however much later it is asked again', () => {
    const lines: string[] = []
    let now = 1_700_000_000_000
    const warnings = new Warnings({ warn: (line) => lines.push(line) }, () => now)
    warnings.warn(WARNING_CODES.SHARED_COUNTERS, 'under its code')
    warnings.warn(WARNING_CODES.UNKNOWN_TIER, 'under a key', undefined, 'gold')
    now += 365 * 86_400_000
    expect(warnings.warn(WARNING_CODES.SHARED_COUNTERS, 'under its code')).toBe(false)
    expect(warnings.warn(WARNING_CODES.UNKNOWN_TIER, 'under a key', undefined, 'gold')).toBe(false)
    expect(lines).toEqual([
      '[floodgate] WARN_FLOODGATE_SHARED_COUNTERS: under its code',
      '[floodgate] WARN_FLOODGATE_UNKNOWN_TIER: under a key',
    ])
  })

  it("forgets only a key it wrote: forgetting another takes no budget and skips none of its code's", () => {
    const lines: string[] = []
    const warnings = new Warnings({ warn: (line) => lines.push(line) })
    for (let i = 0; i < KEYS_PER_CODE; i++) warnings.warn('W', `key ${i}`, Number.POSITIVE_INFINITY, `k${i}`)
    warnings.forget('never written')
    expect(warnings.warn('W', 'over the budget', Number.POSITIVE_INFINITY, 'never written')).toBe(false)
    expect(lines).toHaveLength(KEYS_PER_CODE)
    // A key it wrote is written again at once once forgotten, its budget kept.
    warnings.forget('k0')
    expect(warnings.warn('W', 'key 0 again', Number.POSITIVE_INFINITY, 'k0')).toBe(true)
    expect(lines.at(-1)).toBe('[floodgate] W: key 0 again')
  })

  it('logs a code under its own key even after its other keys are used up', () => {
    const lines: string[] = []
    const warnings = new Warnings({ warn: (line) => lines.push(line) })
    for (let i = 0; i <= KEYS_PER_CODE; i++) warnings.warn('W', `key ${i}`, Number.POSITIVE_INFINITY, `k${i}`)
    warnings.warn('W', 'the code itself')
    expect(lines).toHaveLength(KEYS_PER_CODE + 1)
    expect(lines.at(-1)).toBe('[floodgate] W: the code itself')
  })
})

describe('what reaches the logger, and what a failing logger or hook does', () => {
  const failing: RateLimitStore = {
    name: 'failing',
    local: false,
    consume: () => Promise.reject(new Error('connection refused')),
    reset: () => undefined,
    close: () => undefined,
  }

  it("logs each unknown tier's name once, long names alike in their first characters too", async () => {
    const { limiter, lines } = limiterWith()
    for (const tier of [
      `${'x'.repeat(50_000)}`,
      `${'x'.repeat(40)}A`,
      `${'x'.repeat(40)}B`,
      `${'x'.repeat(40)}B`,
    ]) {
      await limiter.limit('a', { tier })
    }
    expect(lines).toHaveLength(3)
  })

  it('writes to the console when no logger is given', async () => {
    const console = vi.spyOn(globalThis.console, 'warn').mockImplementation(() => undefined)
    try {
      const limiter = createRateLimiter({
        policies: fixedWindow({ limit: 1, window: '1 m' }),
        store: failing,
      })
      expect((await limiter.limit('a')).reason).toBe('store-error')
      expect(console).toHaveBeenCalledTimes(1)
      expect(String(console.mock.calls[0]![0])).toMatch(
        /^\[floodgate\] WARN_FLOODGATE_STORE_FAILURE: The failing store failed: connection refused\. /,
      )
    } finally {
      console.mockRestore()
    }
  })

  it('still answers when the logger throws', async () => {
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 1, window: '1 m' }),
      store: failing,
      logger: {
        warn: () => {
          throw new Error('log transport closed')
        },
      },
    })
    expect((await limiter.limit('a')).reason).toBe('store-error')
  })

  describe('an async onStoreFailure that rejects', () => {
    const unhandled = expectNoUnhandledRejections()
    it('is handled like one that throws: the decision stands, nothing goes unhandled', async () => {
      let calls = 0
      const limiter = createRateLimiter({
        policies: fixedWindow({ limit: 1, window: '1 m' }),
        store: failing,
        logger: false,
        onStoreFailure: async () => {
          calls++
          throw new Error('alert webhook down')
        },
      })
      expect((await limiter.limit('a')).reason).toBe('store-error')
      await new Promise((resolve) => setImmediate(resolve))
      expect(calls).toBe(1)
      expect(unhandled).toEqual([])
    })
  })
})
