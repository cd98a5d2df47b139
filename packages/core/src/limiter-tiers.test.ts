import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from './errors.js'
import { createRateLimiter } from './limiter.js'
import { limiterSettingsOf, resolveLimiterOptions } from './limiter-options.js'
import { fixedWindow } from './policies/fixed-window.js'
import { slidingWindow } from './policies/sliding-window.js'
import type { Policy } from './policies/types.js'
import type { StoreRequest } from './store.js'
import { memoryStore } from './stores/memory-store.js'
import { manualClock } from './testing/manual-clock.js'
import { WARNING_CODES } from './warnings.js'

function tieredLimiter() {
  const warnings: string[] = []
  const clock = manualClock(1_000 * 60_000)
  const limiter = createRateLimiter({
    tiers: {
      free: fixedWindow({ name: 'api', limit: 10, window: '1 m' }),
      pro: fixedWindow({ name: 'api', limit: 100, window: '1 m' }),
    },
    defaultTier: 'free',
    store: memoryStore({ clock }),
    logger: { warn: (message: string) => warnings.push(message) },
  })
  return { limiter, warnings, clock }
}

describe('tiers', () => {
  it('denies at once after a downgrade mid-window: usage belongs to the identifier, not the tier', async () => {
    const { limiter } = tieredLimiter()
    for (let i = 0; i < 50; i++) expect((await limiter.limit('u', { tier: 'pro' })).allowed).toBe(true)
    const next = await limiter.limit('u', { tier: 'free' })
    expect(next).toMatchObject({ allowed: false, reason: 'limited', tier: 'free', limit: 10, remaining: 0 })
  })

  it('keeps usage across an upgrade', async () => {
    const { limiter } = tieredLimiter()
    for (let i = 0; i < 10; i++) await limiter.limit('u')
    expect((await limiter.limit('u')).allowed).toBe(false)
    const upgraded = await limiter.limit('u', { tier: 'pro' })
    expect(upgraded).toMatchObject({ allowed: true, tier: 'pro', limit: 100, remaining: 89 })
  })

  it('gives an unknown tier the default tier, never unlimited, and warns once', async () => {
    const { limiter, warnings } = tieredLimiter()
    const decisions = []
    for (let i = 0; i < 12; i++) decisions.push(await limiter.limit('u', { tier: 'enterprise' }))
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10)
    expect(decisions[11]).toMatchObject({ allowed: false, tier: 'free', limit: 10 })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain(WARNING_CODES.UNKNOWN_TIER)
    expect(warnings[0]).toContain('"enterprise"')
    expect(warnings[0]).toContain('"free"')
  })

  it('uses the default tier when none is given', async () => {
    const { limiter, warnings } = tieredLimiter()
    expect(await limiter.limit('u')).toMatchObject({ tier: 'free', limit: 10 })
    expect(warnings).toEqual([])
  })

  it('uses the default tier when none is given, wherever it is listed among the tiers', async () => {
    const limiter = createRateLimiter({
      tiers: {
        free: fixedWindow({ name: 'api', limit: 10, window: '1 m' }),
        pro: fixedWindow({ name: 'api', limit: 100, window: '1 m' }),
      },
      defaultTier: 'pro',
      store: memoryStore({ clock: manualClock(1_000 * 60_000) }),
    })
    expect(await limiter.limit('u')).toMatchObject({ tier: 'pro', limit: 100, remaining: 99 })
    expect(await limiter.peek('u')).toMatchObject({ tier: 'pro', limit: 100, remaining: 98 })
  })

  it('takes a request that gives a cost but no tier as the default tier, with no warning', async () => {
    const { limiter, warnings } = tieredLimiter()
    expect(await limiter.limit('u', { cost: 3 })).toMatchObject({ tier: 'free', limit: 10, remaining: 7 })
    expect(await limiter.peek('u', { cost: 1, tier: undefined })).toMatchObject({
      tier: 'free',
      remaining: 6,
    })
    expect(warnings).toEqual([])
  })

  it('resets an identifier for every tier at once', async () => {
    const { limiter } = tieredLimiter()
    for (let i = 0; i < 10; i++) await limiter.limit('u', { tier: 'pro' })
    await limiter.reset('u')
    expect(await limiter.peek('u', { tier: 'pro' })).toMatchObject({ remaining: 99 })
  })

  it('resets the counters of a policy that only a tier listed after the first has', async () => {
    const limiter = createRateLimiter({
      tiers: {
        free: fixedWindow({ name: 'api', limit: 10, window: '1 m' }),
        pro: [
          fixedWindow({ name: 'api', limit: 100, window: '1 m' }),
          fixedWindow({ name: 'burst', limit: 2, window: '1 m' }),
        ],
      },
      defaultTier: 'free',
      store: memoryStore({ clock: manualClock(1_000 * 60_000) }),
    })
    for (let i = 0; i < 2; i++) await limiter.limit('u', { tier: 'pro' })
    expect(await limiter.peek('u', { tier: 'pro' })).toMatchObject({ allowed: false, policy: 'burst' })
    await limiter.reset('u')
    expect(await limiter.limit('u', { tier: 'pro' })).toMatchObject({
      allowed: true,
      policy: 'burst',
      remaining: 1,
    })
  })

  it("hands the store one list per tier on every call, and keeps the config's lists frozen", async () => {
    // The memory store keeps the slots of the last list it was given, by identity. The limiter
    // passes lists of its own; the config's stay frozen.
    const seen: (readonly Policy[])[] = []
    const store = memoryStore()
    const limiter = createRateLimiter({
      tiers: {
        free: fixedWindow({ name: 'api', limit: 10, window: '1 m' }),
        pro: [
          fixedWindow({ name: 'api', limit: 100, window: '1 m' }),
          fixedWindow({ name: 'day', limit: 1_000, window: '1 d' }),
        ],
      },
      defaultTier: 'free',
      store: {
        name: 'recording',
        local: true,
        consume: (request: StoreRequest) => {
          seen.push(request.policies)
          return store.consume(request)
        },
        reset: (request) => store.reset(request),
        close: () => store.close(),
      },
    })
    for (const tier of [undefined, 'free', 'pro', 'pro', undefined]) await limiter.limit('u', { tier })
    expect(seen.map((list) => list.map((p) => p.name).join('+'))).toEqual([
      'api',
      'api',
      'api+day',
      'api+day',
      'api',
    ])
    expect(seen[1]).toBe(seen[0])
    expect(seen[4]).toBe(seen[0])
    expect(seen[3]).toBe(seen[2])
    expect(seen[0]).toEqual(limiter.config.tiers.get('free'))
    // Node 20 reads an element of a frozen array through a generic keyed load: not on this path.
    expect(Object.isFrozen(seen[0])).toBe(false)
    for (const list of limiter.config.tiers.values()) expect(Object.isFrozen(list)).toBe(true)
  })

  it("takes a copy of a policy with a field changed, frozen or not, or one written out, and keeps its factory's own", async () => {
    const minute = slidingWindow({ name: 'api', limit: 2, window: '1 m' })
    const copies: Policy[] = [
      { ...minute, limit: 3 },
      Object.freeze({ ...minute, limit: 4 }),
      { kind: 'sliding-window', name: 'api', limit: 5, windowMs: 60_000 },
    ]
    const limiter = createRateLimiter({
      tiers: { free: minute, pro: copies[0]!, team: copies[1]!, whole: copies[2]! },
      defaultTier: 'free',
      store: memoryStore({ clock: manualClock(1_800_000_000_000) }),
    })
    for (const [tier, limit] of [
      ['pro', 3],
      ['team', 4],
      ['whole', 5],
    ] as const) {
      const [kept] = limiter.config.tiers.get(tier)!
      expect(kept).toEqual(slidingWindow({ name: 'api', limit, window: '1 m' }))
      expect(copies).not.toContain(kept)
      expect(Object.isFrozen(kept)).toBe(true)
      const reasons = []
      for (let i = 0; i <= limit; i++) reasons.push((await limiter.limit(tier, { tier })).reason)
      expect(reasons).toEqual([...Array(limit).fill('allowed'), 'limited'])
    }
  })

  it.each([
    ['another kind', slidingWindow({ name: 'api', limit: 100, window: '1 m' })],
    ['another window', fixedWindow({ name: 'api', limit: 100, window: '1 h' })],
  ])('rejects one policy name with %s in two tiers (ERR_FLOODGATE_POLICY_CONFLICT)', (_what, pro) => {
    expect(() =>
      createRateLimiter({
        tiers: { free: fixedWindow({ name: 'api', limit: 10, window: '1 m' }), pro },
        defaultTier: 'free',
      }),
    ).toThrow(expect.objectContaining({ code: ERROR_CODES.POLICY_CONFLICT, value: 'api' }))
  })

  it('answers a tier that is not even a string with the default tier and the warning, never a TypeError', async () => {
    const lines: string[] = []
    const limiter = createRateLimiter({
      tiers: { free: [fixedWindow({ limit: 2, window: '1 m' })] },
      defaultTier: 'free',
      store: memoryStore({ clock: () => 1_700_000_000_000 }),
      logger: { warn: (line) => lines.push(line) },
    })
    for (const tier of [Object.create(null), Symbol('plan'), 7n, { toString: () => 'pro' }]) {
      const d = await limiter.limit('t', { tier: tier as never })
      expect(d.tier).toBe('free')
    }
    expect(lines.every((line) => line.includes(WARNING_CODES.UNKNOWN_TIER))).toBe(true)
    expect(lines.length).toBeGreaterThan(0)
  })

  it('warns of each unknown tier once, one longer than 64 characters by its first 64 and its length', async () => {
    const lines: string[] = []
    const limiter = createRateLimiter({
      tiers: { free: [fixedWindow({ limit: 100, window: '1 m' })] },
      defaultTier: 'free',
      logger: { warn: (line) => lines.push(line) },
    })
    const x = (n: number) => 'x'.repeat(n)
    const told: [string, boolean][] = [
      [x(64), true],
      [`${x(63)}y`, true],
      [`${x(64)}a`, true],
      // The same first 64 characters and length: the same name, as far as the log is concerned.
      [`${x(64)}b`, false],
      [`${x(63)}za`, true],
      [`${x(64)}ab`, true],
      [`y${x(64)}`, true],
      [x(64), false],
    ]
    for (const [tier, warned] of told) {
      const before = lines.length
      expect((await limiter.limit('u', { tier })).tier).toBe('free')
      expect(lines.length - before, `tier of ${tier.length} characters`).toBe(warned ? 1 : 0)
    }
  })

  it('keeps its own plain copy of each policy: fields read once, whatever the object given has behind them', async () => {
    let reads = 0
    const base = fixedWindow({ name: 'w', limit: 2, window: '1 m' })
    const tricky = Object.freeze(
      Object.defineProperty({ ...base }, 'limit', {
        enumerable: true,
        get: () => (reads++ < 1 ? 2 : Number.NaN),
      }),
    ) as Policy
    const limiter = createRateLimiter({
      policies: tricky,
      store: memoryStore({ clock: () => 1_700_000_000_000 }),
    })
    const readsAtConstruction = reads
    const decisions = []
    for (let i = 0; i < 3; i++) decisions.push(await limiter.limit('x'))
    expect(decisions.map((d) => [d.allowed, d.limit, d.remaining])).toEqual([
      [true, 2, 1],
      [true, 2, 0],
      [false, 2, 0],
    ])
    expect(reads).toBe(readsAtConstruction)
  })
})

describe('limiterSettingsOf', () => {
  it('gives back the options a config was resolved from, its limits aside, and none it made itself', () => {
    const store = memoryStore()
    const onStoreFailure = () => undefined
    const logger = { warn: () => undefined }
    const given = {
      store,
      prefix: 'app',
      timeout: 75,
      onStoreError: 'deny',
      mode: 'shadow',
      onStoreFailure,
      logger,
      silenceWarnings: ['WARN_FLOODGATE_UNKNOWN_TIER'],
      denyCache: false,
    } as const
    const config = resolveLimiterOptions({ ...given, policies: fixedWindow({ limit: 1, window: '1 m' }) })
    expect(limiterSettingsOf(config)).toEqual(given)
    // A memory store the limiter made for itself is not handed on.
    const own = resolveLimiterOptions({ policies: fixedWindow({ limit: 1, window: '1 m' }) })
    expect(limiterSettingsOf(own)).not.toHaveProperty('store')
  })
})
