import { parseDictionary, parseItem, parseList } from 'structured-headers'
import { describe, expect, it } from 'vitest'
import type { Decision } from './decision.js'
import { ERROR_CODES } from './errors.js'
import {
  DEFAULT_HEADER_FORMATS,
  type HeaderFormat,
  problemDetails,
  QUOTA_EXCEEDED_TYPE,
  rateLimitHeaders,
  resolveHeaderFormats,
  unavailableProblem,
} from './headers.js'
import { createRateLimiter } from './limiter.js'
import { fixedWindow } from './policies/fixed-window.js'
import { slidingWindow } from './policies/sliding-window.js'
import { tokenBucket } from './policies/token-bucket.js'
import type { Policy } from './policies/types.js'
import { memoryStore } from './stores/memory-store.js'
import { manualClock } from './testing/manual-clock.js'

const DAY_MS = 86_400_000
const START_MS = 20_000 * DAY_MS

/** Delta seconds rounded up, computed independently of the code under test. */
const up = (ms: number) => Math.max(0, Math.ceil(ms / 1000))

/** Integer checks that reject decimals, strings and tokens the parser may hand back. */
function int(value: unknown): number {
  expect(typeof value, `${String(value)} is a number`).toBe('number')
  expect(Number.isInteger(value), `${String(value)} is an integer`).toBe(true)
  return value as number
}

/** Decisions of many shapes: fresh, partly used, denied, several policies, sub-second windows. */
async function sampleDecisions(): Promise<Decision[]> {
  const sets: Policy[][] = [
    [fixedWindow({ name: 'fw', limit: 5, window: 2_500 })],
    [slidingWindow({ name: 'sw', limit: 5, window: '3 s' })],
    [tokenBucket({ name: 'tb', capacity: 5, refillRate: 3, interval: '2 s' })],
    [
      tokenBucket({ name: 'burst', capacity: 4, refillRate: 2, interval: '1 s' }),
      slidingWindow({ name: 'minute', limit: 12, window: '1 m' }),
      fixedWindow({ name: 'daily', limit: 30, window: '1 d' }),
    ],
  ]
  const decisions: Decision[] = []
  for (const policies of sets) {
    const clock = manualClock(START_MS + 17)
    const limiter = createRateLimiter({ policies, store: memoryStore({ clock }) })
    for (let i = 0; i < 60; i++) {
      decisions.push(
        await limiter.limit('client', { cost: 1 + (i % 3 === 0 ? 1 : 0) + (i % 11 === 0 ? 9 : 0) }),
      )
      clock.advance(137 + (i % 5) * 101)
    }
  }
  return decisions
}

const decisions = await sampleDecisions()

describe('rate-limit headers, parsed as RFC 9651 structured fields', () => {
  it('covers admissions, denials and never-admissible costs', () => {
    expect(decisions.some((d) => d.allowed)).toBe(true)
    expect(decisions.some((d) => d.reason === 'limited')).toBe(true)
    expect(decisions.some((d) => d.reason === 'cost-exceeds-limit')).toBe(true)
  })

  it('draft-8: one list member per policy, integer q, w, r, t, r ≤ q, t rounded up', () => {
    for (const d of decisions) {
      const h = rateLimitHeaders(d, ['draft-8'])
      const policy = parseList(h['RateLimit-Policy']!)
      const state = parseList(h.RateLimit!)
      expect(policy.map(([name]) => name)).toEqual(d.policies.map((p) => p.name))
      expect(state.map(([name]) => name)).toEqual(d.policies.map((p) => p.name))
      d.policies.forEach((p, i) => {
        const [, pp] = policy[i]!
        const [, sp] = state[i]!
        expect([...pp.keys()]).toEqual(['q', 'w'])
        expect([...sp.keys()]).toEqual(['r', 't'])
        expect(int(pp.get('q'))).toBe(p.limit)
        expect(int(pp.get('w'))).toBe(Math.ceil(p.windowMs / 1000))
        expect(int(sp.get('r'))).toBe(p.remaining)
        expect(int(sp.get('r'))).toBeLessThanOrEqual(int(pp.get('q')))
        expect(int(sp.get('r'))).toBeGreaterThanOrEqual(0)
        expect(int(sp.get('t'))).toBe(up(p.resetAtMs - d.nowMs))
      })
    }
  })

  it('draft-7: an Item policy and a Dictionary of integers for the binding policy', () => {
    for (const d of decisions) {
      const h = rateLimitHeaders(d, ['draft-7'])
      const b = d.policies.find((p) => p.name === d.policy)!
      const [q, params] = parseItem(h['RateLimit-Policy']!)
      expect(int(q)).toBe(d.limit)
      expect(int(params.get('w'))).toBe(Math.ceil(b.windowMs / 1000))
      const dict = parseDictionary(h.RateLimit!)
      expect([...dict.keys()]).toEqual(['limit', 'remaining', 'reset'])
      const [limit, remaining, reset] = [...dict.values()].map(([v]) => int(v))
      expect(limit).toBe(d.limit)
      expect(remaining).toBe(d.remaining)
      expect(remaining).toBeLessThanOrEqual(limit!)
      expect(reset).toBe(up(d.resetAtMs - d.nowMs))
    }
  })

  it('draft-6: three integer fields and the policy', () => {
    for (const d of decisions) {
      const h = rateLimitHeaders(d, ['draft-6'])
      const limit = int(parseItem(h['RateLimit-Limit']!)[0])
      const remaining = int(parseItem(h['RateLimit-Remaining']!)[0])
      expect([limit, remaining]).toEqual([d.limit, d.remaining])
      expect(remaining).toBeLessThanOrEqual(limit)
      expect(int(parseItem(h['RateLimit-Reset']!)[0])).toBe(up(d.resetAtMs - d.nowMs))
      expect(int(parseItem(h['RateLimit-Policy']!)[0])).toBe(d.limit)
    }
  })

  it('legacy: integer X-RateLimit-* with the reset in epoch seconds, rounded up', () => {
    for (const d of decisions) {
      const h = rateLimitHeaders(d, ['legacy'])
      expect(int(parseItem(h['X-RateLimit-Limit']!)[0])).toBe(d.limit)
      expect(int(parseItem(h['X-RateLimit-Remaining']!)[0])).toBe(d.remaining)
      expect(int(parseItem(h['X-RateLimit-Reset']!)[0])).toBe(Math.ceil(d.resetAtMs / 1000))
    }
  })

  it('refuses two drafts at once, as the headers option does: they share field names', () => {
    const d = decisions[0]!
    for (const formats of [
      ['draft-8', 'draft-6'],
      ['legacy', 'draft-7', 'draft-8'],
    ] as HeaderFormat[][]) {
      // On every decision, a store failure's (which writes no header) included.
      for (const decision of [d, { ...d, reason: 'store-error' as const, policies: [] }]) {
        expect(() => rateLimitHeaders(decision, formats)).toThrow(
          expect.objectContaining({ code: ERROR_CODES.INVALID_OPTION, option: 'formats' }),
        )
      }
    }
    expect(Object.keys(rateLimitHeaders(d, ['draft-7', 'legacy', 'draft-7']))).toContain('RateLimit')
  })

  it('Retry-After: whole seconds rounded up, at least 1, only on a denial that can succeed', () => {
    for (const d of decisions) {
      const h = rateLimitHeaders(d, DEFAULT_HEADER_FORMATS)
      if (d.reason === 'limited') {
        const seconds = int(parseItem(h['Retry-After']!)[0])
        expect(seconds).toBe(Math.max(1, Math.ceil(d.retryAfterMs / 1000)))
        expect(seconds).toBeGreaterThanOrEqual(1)
      } else {
        expect(h['Retry-After']).toBeUndefined()
      }
    }
  })

  it('writes the draft-8 example of DESIGN §5 exactly', async () => {
    const clock = manualClock(START_MS)
    const limiter = createRateLimiter({
      policies: [
        tokenBucket({ name: 'burst', capacity: 20, refillRate: 10, interval: '1 s' }),
        fixedWindow({ name: 'daily', limit: 10_000, window: '1 d' }),
      ],
      store: memoryStore({ clock }),
    })
    const h = rateLimitHeaders(await limiter.limit('user:42'), ['draft-8'])
    expect(h).toEqual({
      'RateLimit-Policy': '"burst";q=20;w=1, "daily";q=10000;w=86400',
      RateLimit: '"burst";r=19;t=1, "daily";r=9999;t=86400',
    })
  })

  it('writes the draft-7 example of DESIGN §5 exactly', async () => {
    const clock = manualClock(START_MS + 18_000)
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 100, window: '1 m' }),
      store: memoryStore({ clock }),
    })
    expect(rateLimitHeaders(await limiter.limit('a'), ['draft-7'])).toEqual({
      'RateLimit-Policy': '100;w=60',
      RateLimit: 'limit=100, remaining=99, reset=42',
    })
  })

  it('takes one format or a list, the defaults when given none, and refuses an unknown one with a code', () => {
    const d = decisions[0]!
    expect(rateLimitHeaders(d, 'draft-6')).toEqual(rateLimitHeaders(d, ['draft-6']))
    expect(rateLimitHeaders(d)).toEqual(rateLimitHeaders(d, DEFAULT_HEADER_FORMATS))
    for (const format of ['draft-9', 'toString', '__proto__']) {
      expect(() => rateLimitHeaders(d, format as HeaderFormat)).toThrow(
        expect.objectContaining({ code: ERROR_CODES.INVALID_OPTION, option: 'formats' }),
      )
    }
  })

  it('writes no rate-limit header for a store-error decision', () => {
    const failed = { ...decisions[0]!, reason: 'store-error' as const, allowed: false, policies: [] }
    expect(rateLimitHeaders(failed, DEFAULT_HEADER_FORMATS)).toEqual({})
    // A custom limiter's store error that still names its policies, and a decision of no policy.
    const denied = decisions.find((d) => d.reason === 'limited')!
    const named = { ...denied, reason: 'store-error' as const }
    const none = { ...decisions[0]!, policies: [] }
    for (const formats of [['draft-8', 'legacy'], ['draft-7'], ['draft-6', 'legacy']] as HeaderFormat[][]) {
      expect(rateLimitHeaders(named, formats)).toEqual({})
      expect(rateLimitHeaders(none, formats)).toEqual({})
    }
  })

  it('rounds every delta up at the boundary instants: exactly on a second, and 1 ms past one', async () => {
    // A 3 s fixed window of limit 1, its second request denied at each offset into the window.
    for (const [offsetMs, waitMs, seconds] of [
      [0, 3_000, 3],
      [999, 2_001, 3],
      [1_000, 2_000, 2],
      [1_001, 1_999, 2],
      [2_999, 1, 1],
    ] as const) {
      const clock = manualClock(START_MS + offsetMs)
      const limiter = createRateLimiter({
        policies: fixedWindow({ name: 'fw', limit: 1, window: '3 s' }),
        store: memoryStore({ clock }),
      })
      await limiter.limit('a')
      const d = await limiter.limit('a')
      expect(d).toMatchObject({ reason: 'limited', retryAfterMs: waitMs, resetAtMs: START_MS + 3_000 })
      const label = `${offsetMs} ms into the window`
      expect(rateLimitHeaders(d, ['draft-8', 'legacy']), label).toEqual({
        'RateLimit-Policy': '"fw";q=1;w=3',
        RateLimit: `"fw";r=0;t=${seconds}`,
        'X-RateLimit-Limit': '1',
        'X-RateLimit-Remaining': '0',
        'X-RateLimit-Reset': String(START_MS / 1000 + 3),
        'Retry-After': String(seconds),
      })
      expect(rateLimitHeaders(d, 'draft-7').RateLimit, label).toBe(`limit=1, remaining=0, reset=${seconds}`)
      expect(rateLimitHeaders(d, 'draft-6')['RateLimit-Reset'], label).toBe(String(seconds))
    }
    // A reset instant 1 ms past a whole second, exactly 1 s away: t is 1, the epoch seconds round up.
    const clock = manualClock(START_MS + 1)
    const bucket = createRateLimiter({
      policies: tokenBucket({ name: 'tb', capacity: 1, refillRate: 1, interval: '1 s' }),
      store: memoryStore({ clock }),
    })
    const d = await bucket.limit('a')
    expect(d).toMatchObject({ allowed: true, resetAtMs: START_MS + 1_001 })
    expect(rateLimitHeaders(d, ['draft-8', 'legacy'])).toMatchObject({
      RateLimit: '"tb";r=0;t=1',
      'X-RateLimit-Reset': String(START_MS / 1000 + 2),
    })
  })

  it('writes a window as whole seconds rounded up, and a sub-second one as 1', () => {
    for (const [windowMs, w] of [
      [1, 1],
      [999, 1],
      [1_000, 1],
      [1_001, 2],
      [1_200, 2],
      [2_500, 3],
      [60_000, 60],
    ] as const) {
      const d = { ...decisions[0]!, policies: [{ ...decisions[0]!.policies[0]!, windowMs }] }
      const name = d.policies[0]!.name
      expect(rateLimitHeaders(d, 'draft-8')['RateLimit-Policy'], `${windowMs} ms`).toBe(
        `"${name}";q=5;w=${w}`,
      )
      expect(rateLimitHeaders(d, 'draft-7')['RateLimit-Policy'], `${windowMs} ms`).toBe(`5;w=${w}`)
    }
  })

  it('gives a Retry-After of at least 1 s to a denial that carries no wait, as a custom limiter may', () => {
    const denied = decisions.find((d) => d.reason === 'limited')!
    expect(rateLimitHeaders({ ...denied, retryAfterMs: 0 }, 'legacy')['Retry-After']).toBe('1')
  })

  it('never writes a negative delta: a decision read after its reset gives t=0 and reset=0', () => {
    const decision: Decision = {
      allowed: true,
      limit: 5,
      remaining: 4,
      resetAtMs: 1_000_000,
      retryAfterMs: 0,
      policy: 'api',
      tier: undefined,
      reason: 'allowed',
      cost: 1,
      nowMs: 1_005_000, // 5 s after the reset
      policies: [
        {
          name: 'api',
          kind: 'fixed-window',
          limit: 5,
          windowMs: 60_000,
          allowed: true,
          remaining: 4,
          resetAtMs: 1_000_000,
          retryAfterMs: 0,
        },
      ],
    }
    expect(rateLimitHeaders(decision, 'draft-8').RateLimit).toBe('"api";r=4;t=0')
    expect(rateLimitHeaders(decision, 'draft-7').RateLimit).toBe('limit=5, remaining=4, reset=0')
    expect(rateLimitHeaders(decision, 'draft-6')['RateLimit-Reset']).toBe('0')
  })
})

describe('problem+json body of a denial', () => {
  it('carries type, title, status, detail and the violated policies', () => {
    const limited = decisions.find((d) => d.reason === 'limited' && d.policies.length === 3)!
    const body = JSON.parse(JSON.stringify(problemDetails(limited)))
    expect(body).toEqual({
      type: QUOTA_EXCEEDED_TYPE,
      title: 'Too Many Requests',
      status: 429,
      detail: expect.stringContaining(`"${limited.policy}"`),
      'violated-policies': limited.policies.filter((p) => !p.allowed).map((p) => p.name),
    })
    expect(body['violated-policies']).toContain(limited.policy)
    expect(body.detail).toContain(`retry in ${Math.max(1, Math.ceil(limited.retryAfterMs / 1000))} s`)
  })

  it('says a never-admissible request cannot succeed', () => {
    const never = decisions.find((d) => d.reason === 'cost-exceeds-limit')!
    expect(problemDetails(never).detail).toMatch(/cannot succeed/)
  })

  it('writes the type, title and detail word for word, for a wait and for a cost that can never pass', async () => {
    const clock = manualClock(START_MS + 20_000)
    const limiter = createRateLimiter({
      policies: fixedWindow({ name: 'fw', limit: 5, window: '1 m' }),
      store: memoryStore({ clock }),
    })
    await limiter.limit('a', { cost: 5 })
    expect(problemDetails(await limiter.limit('a'))).toEqual({
      type: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
      title: 'Too Many Requests',
      status: 429,
      detail: 'Rate limit exceeded for policy "fw"; retry in 40 s.',
      'violated-policies': ['fw'],
    })
    expect(problemDetails(await limiter.limit('a', { cost: 6 }))).toEqual({
      type: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
      title: 'Too Many Requests',
      status: 429,
      detail: 'This request costs 6, more than policy "fw" allows at all (5); it cannot succeed.',
      'violated-policies': ['fw'],
    })
  })

  it('answers a store failure under onStoreError deny with a 503 problem, never a quota one', () => {
    expect(unavailableProblem()).toEqual({
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: 'The rate limiter could not reach its store; try again shortly.',
    })
  })
})

describe('resolveHeaderFormats', () => {
  it.each([
    [undefined, ['draft-8', 'legacy']],
    [false, []],
    ['draft-7', ['draft-7']],
    [
      ['draft-6', 'legacy', 'legacy'],
      ['draft-6', 'legacy'],
    ],
    [['legacy'], ['legacy']],
  ])('accepts %j', (value, formats) => {
    expect(resolveHeaderFormats(value)).toEqual(formats)
  })

  it.each([
    'draft-9',
    'Draft-8',
    true,
    null,
    42,
    ['draft-8', 'x'],
    ['draft-8', 'draft-7'],
    ['draft-7', 'draft-6'],
  ])('rejects %j with ERR_FLOODGATE_INVALID_OPTION', (value) => {
    expect(() => resolveHeaderFormats(value as HeaderFormat)).toThrow(
      expect.objectContaining({ code: ERROR_CODES.INVALID_OPTION, option: 'headers' }),
    )
  })
})
