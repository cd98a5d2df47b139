import { describe, expect, it } from 'vitest'
import { ERROR_CODES, isFloodgateError } from './errors.js'
import { createRateLimiter } from './limiter.js'
import { fixedWindow } from './policies/fixed-window.js'
import { memoryStore } from './stores/memory-store.js'
import { WARNING_CODES } from './warnings.js'

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
})
