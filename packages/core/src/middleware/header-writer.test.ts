import { describe, expect, it } from 'vitest'
import type { Decision, PolicyDecision } from '../decision.js'
import { HEADER_FORMATS, type HeaderFormat, rateLimitHeaders } from '../headers.js'
import { headerWriter, RATE_LIMIT_HEADER_NAMES } from './header-writer.js'

function policy(name: string, overrides: Partial<PolicyDecision> = {}): PolicyDecision {
  return {
    name,
    kind: 'fixed-window',
    limit: 100,
    windowMs: 60_000,
    allowed: true,
    remaining: 41,
    resetAtMs: 1_000_123_456,
    retryAfterMs: 0,
    ...overrides,
  }
}

function decision(policies: PolicyDecision[], overrides: Partial<Decision> = {}): Decision {
  const binding = policies.find((p) => !p.allowed) ?? policies[0]
  return {
    allowed: policies.every((p) => p.allowed),
    limit: binding?.limit ?? 0,
    remaining: binding?.remaining ?? 0,
    resetAtMs: binding?.resetAtMs ?? 0,
    retryAfterMs: binding?.retryAfterMs ?? 0,
    policy: binding?.name ?? '',
    tier: undefined,
    reason: policies.every((p) => p.allowed) ? 'allowed' : 'limited',
    cost: 1,
    nowMs: 1_000_000_000,
    policies,
    ...overrides,
  }
}

const DECISIONS: Record<string, Decision> = {
  'an allowed one-policy request': decision([policy('api')]),
  'a denied one-policy request': decision([
    policy('api', { allowed: false, remaining: 0, retryAfterMs: 2_500 }),
  ]),
  'a cost that can never pass': decision(
    [policy('api', { allowed: false, remaining: 0, retryAfterMs: Number.POSITIVE_INFINITY })],
    { reason: 'cost-exceeds-limit' },
  ),
  'a sub-second window': decision([policy('fast', { windowMs: 500, resetAtMs: 1_000_000_200 })]),
  'a token bucket': decision([policy('bucket', { kind: 'token-bucket', windowMs: 1_000, limit: 20 })]),
  'a name with quotes': decision([policy('a "quoted" name')]),
  'two policies': decision([policy('burst', { remaining: 3 }), policy('daily', { windowMs: 86_400_000 })]),
  'a store error': decision([], { reason: 'store-error' }),
  // A custom limiter's decisions: a store error that names its policy, a window of 0 ms.
  'a store error carrying a policy': decision([policy('api')], { reason: 'store-error', allowed: true }),
  'a window of no time': decision([policy('instant', { windowMs: 0 })]),
  'a window of a second and a half': decision([policy('odd', { windowMs: 1_500 })]),
  'a window of 1.2 s': decision([policy('odd', { windowMs: 1_200 })]),
  // Reset and Retry-After exactly on a whole second from now (and in epoch seconds).
  'a denial ending on a whole second': decision([
    policy('api', { allowed: false, remaining: 0, resetAtMs: 1_000_060_000, retryAfterMs: 2_000 }),
  ]),
  'a decision read after its reset': decision([policy('api', { resetAtMs: 999_995_000 })]),
  'a decision of no policy': decision([]),
}

const FORMATS: HeaderFormat[][] = [
  [],
  ['draft-8'],
  ['draft-7'],
  ['draft-6'],
  ['legacy'],
  ['draft-8', 'legacy'],
  ['legacy', 'draft-8'],
  ['draft-7', 'legacy'],
  ['legacy', 'draft-6'],
]

describe('headerWriter', () => {
  for (const formats of FORMATS) {
    for (const [name, d] of Object.entries(DECISIONS)) {
      it(`writes ${name} in [${formats.join(', ')}] as rateLimitHeaders with lowercase names, same order`, () => {
        const write = headerWriter(formats)
        const lower = Object.entries(rateLimitHeaders(d, formats)).map(([k, v]) => [k.toLowerCase(), v])
        expect(Object.entries(write(d))).toEqual(lower)
        // Twice: the second answer comes from the cached RateLimit-Policy value.
        expect(Object.entries(write(d))).toEqual(lower)
      })
    }
  }

  it('writes only names listed in RATE_LIMIT_HEADER_NAMES (what an adapter clears), in every format', () => {
    const denied = DECISIONS['a denied one-policy request']!
    const two = decision([
      policy('burst', { allowed: false, remaining: 0, retryAfterMs: 900 }),
      policy('daily'),
    ])
    const written = new Set<string>()
    for (const format of HEADER_FORMATS) {
      for (const d of [denied, two]) {
        for (const name of Object.keys(headerWriter([format])(d))) written.add(name)
        for (const name of Object.keys(rateLimitHeaders(d, format))) written.add(name.toLowerCase())
      }
    }
    expect([...written].sort()).toEqual([...RATE_LIMIT_HEADER_NAMES].sort())
  })

  it('rebuilds the cached RateLimit-Policy when a policy of the same name has another limit (tiers)', () => {
    const write = headerWriter(['draft-8'])
    const free = decision([policy('api', { limit: 10 })])
    const pro = decision([policy('api', { limit: 1_000, windowMs: 3_600_000 })])
    write(free)
    expect(write(pro)['ratelimit-policy']).toBe('"api";q=1000;w=3600')
    expect(write(free)['ratelimit-policy']).toBe('"api";q=10;w=60')
  })

  it('rebuilds the cached RateLimit-Policy when only the limit, or only the window, of a policy changes', () => {
    const write = headerWriter(['draft-8'])
    const free = decision([policy('api', { limit: 10 })])
    const pro = decision([policy('api', { limit: 1_000 })])
    const hourly = decision([policy('api', { limit: 10, windowMs: 3_600_000 })])
    write(free)
    expect(write(pro)['ratelimit-policy']).toBe('"api";q=1000;w=60')
    expect(write(free)['ratelimit-policy']).toBe('"api";q=10;w=60')
    expect(write(hourly)['ratelimit-policy']).toBe('"api";q=10;w=3600')
    expect(write(free)['ratelimit-policy']).toBe('"api";q=10;w=60')
  })
})
