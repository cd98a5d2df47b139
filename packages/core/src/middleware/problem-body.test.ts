import { describe, expect, it } from 'vitest'
import type { Decision, PolicyDecision } from '../decision.js'
import { problemDetails } from '../headers.js'
import { ProblemBodies, problemBody } from './problem-body.js'

function policy(name: string, allowed: boolean, retryAfterMs = 0): PolicyDecision {
  return {
    name,
    kind: 'fixed-window',
    limit: 5,
    windowMs: 60_000,
    allowed,
    remaining: allowed ? 2 : 0,
    resetAtMs: 1_060_000,
    retryAfterMs,
  }
}

function denial(policies: PolicyDecision[], overrides: Partial<Decision> = {}): Decision {
  const binding = policies.find((p) => !p.allowed) ?? policies[0]!
  return {
    allowed: false,
    limit: binding.limit,
    remaining: 0,
    resetAtMs: binding.resetAtMs,
    retryAfterMs: binding.retryAfterMs,
    policy: binding.name,
    tier: undefined,
    reason: 'limited',
    cost: 1,
    nowMs: 1_000_000,
    policies,
    ...overrides,
  }
}

const DENIALS: Record<string, Decision> = {
  'one policy': denial([policy('api', false, 12_345)]),
  'two policies, one denying': denial([policy('burst', true), policy('daily', false, 3_600_000)]),
  'two policies, both denying': denial([policy('burst', false, 900), policy('daily', false, 50_000)]),
  'a cost above the limit': denial([policy('api', false, Number.POSITIVE_INFINITY)], {
    reason: 'cost-exceeds-limit',
    retryAfterMs: Number.POSITIVE_INFINITY,
    cost: 9,
  }),
  'names needing escapes': denial([policy('a"b\\c\n\u2028é😀\ud800', false, 1)]),
  'a sub-second wait': denial([policy('api', false, 1)]),
  'a denial with no time to retry (a deny list)': denial([policy('api', false, Number.POSITIVE_INFINITY)], {
    retryAfterMs: Number.POSITIVE_INFINITY,
  }),
}

describe('problemBody', () => {
  for (const [name, decision] of Object.entries(DENIALS)) {
    it(`serialises ${name} exactly as JSON.stringify(problemDetails(decision))`, () => {
      expect(problemBody(decision)).toBe(JSON.stringify(problemDetails(decision)))
    })
  }
})

describe('ProblemBodies', () => {
  for (const [name, decision] of Object.entries(DENIALS)) {
    it(`answers ${name} with the same body as problemDetails, cached or not`, () => {
      const bodies = new ProblemBodies()
      const expected = JSON.stringify(problemDetails(decision))
      expect(bodies.of(decision)).toBe(expected)
      expect(bodies.of(decision)).toBe(expected)
    })
  }

  it('keys a cached body by policy name and Retry-After, so neither leaks into another denial', () => {
    const bodies = new ProblemBodies()
    const a = denial([policy('a', false, 5_000)])
    const b = denial([policy('b', false, 5_000)])
    const later = denial([policy('a', false, 7_000)])
    bodies.of(a)
    expect(bodies.of(b)).toBe(JSON.stringify(problemDetails(b)))
    expect(bodies.of(later)).toBe(JSON.stringify(problemDetails(later)))
  })

  it('stays correct past its bound of cached bodies', () => {
    const bodies = new ProblemBodies()
    for (let seconds = 1; seconds <= 600; seconds++) {
      const decision = denial([policy('api', false, seconds * 1000)])
      expect(bodies.of(decision)).toBe(JSON.stringify(problemDetails(decision)))
    }
  })

  it('keeps at most 256 bodies, however many Retry-After values and policies come', () => {
    // A year-long window gives about 31 million Retry-After values: the cache must not keep one each.
    const bodies = new ProblemBodies()
    const cache = (bodies as unknown as { cache: Map<string, Map<number, string>> }).cache
    let most = 0
    // Every denial below is new: the cache holds each until the 257th, then starts afresh with it.
    let expected = 0
    for (let seconds = 1; seconds <= 2_000; seconds++) {
      bodies.of(denial([policy(`p${seconds % 3}`, false, seconds * 1000)]))
      let held = 0
      for (const bySeconds of cache.values()) held += bySeconds.size
      most = Math.max(most, held)
      expected = expected === 256 ? 1 : expected + 1
      expect(held, `after ${seconds} denials`).toBe(expected)
    }
    expect(most).toBe(256)
  })

  it('answers every denial with its own body after any other denial, on one cache', () => {
    const extra: Record<string, Decision> = {
      // Same binding policy and Retry-After as 'one policy daily' below, but two policies deny.
      'two policies denying, binding "daily"': denial(
        [policy('burst', false, 3_600_000), policy('daily', false, 3_600_000)],
        { policy: 'daily' },
      ),
      'one policy daily': denial([policy('daily', false, 3_600_000)]),
      // Same policy and Retry-After (1 s) as 'two policies, both denying', whose binding is 'burst'.
      'one policy burst': denial([policy('burst', false, 900)]),
      // Binding 'burst' first with the same Retry-After, as in 'two policies, both denying', alone in violation.
      'burst denying, minute admitting': denial([policy('burst', false, 900), policy('minute', true)]),
      // A custom limiter's: denied by 'daily' and Retry-After as 'one policy daily', but its one
      // policy admits, or is another than the one it names.
      'one policy daily, admitting': denial([policy('daily', true, 3_600_000)]),
      'naming daily, carrying api': denial([policy('api', false, 3_600_000)], { policy: 'daily' }),
      // Same policy and no Retry-After, as 'a cost above the limit', at another cost.
      'a cost of 12 above the limit': denial([policy('api', false, Number.POSITIVE_INFINITY)], {
        reason: 'cost-exceeds-limit',
        retryAfterMs: Number.POSITIVE_INFINITY,
        cost: 12,
      }),
    }
    const all = Object.entries({ ...DENIALS, ...extra })
    for (const [firstName, first] of all) {
      for (const [name, decision] of all) {
        const bodies = new ProblemBodies()
        bodies.of(first)
        expect(bodies.of(decision), `${name} after ${firstName}`).toBe(
          JSON.stringify(problemDetails(decision)),
        )
      }
    }
  })
})

describe('a limited denial with no time to retry', () => {
  it('says so, and never "retry in 1 s", cached or not', () => {
    const lasting = DENIALS['a denial with no time to retry (a deny list)']!
    const bodies = new ProblemBodies()
    // A denial of the same policy retrying in 1 s first: the cache must not answer the other with it.
    expect(bodies.of(DENIALS['a sub-second wait']!)).toContain('retry in 1 s')
    for (const body of [problemBody(lasting), bodies.of(lasting)]) {
      expect(JSON.parse(body).detail).toBe(
        'Rate limit exceeded for policy "api"; it gives no time at which a retry would pass.',
      )
    }
  })
})
