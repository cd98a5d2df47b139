import { describe, expect, it } from 'vitest'
import { createRateLimiter, DECIDE_NOW, type DecidingNow, type RateLimiter } from './limiter.js'
import { fixedWindow } from './policies/fixed-window.js'
import { slidingWindow } from './policies/sliding-window.js'
import { tokenBucket } from './policies/token-bucket.js'
import type { PolicyOutcome } from './policies/types.js'
import type { RateLimitStore } from './store.js'
import { memoryStore } from './stores/memory-store.js'
import { manualClock } from './testing/manual-clock.js'

const DAY_MS = 86_400_000

function twoPolicyLimiter(startMs = 20_000 * DAY_MS) {
  const clock = manualClock(startMs)
  const limiter = createRateLimiter({
    policies: [
      tokenBucket({ name: 'burst', capacity: 3, refillRate: 1, interval: '1 s' }),
      fixedWindow({ name: 'daily', limit: 5, window: '1 d' }),
    ],
    store: memoryStore({ clock }),
  })
  return { limiter, clock }
}

describe('createRateLimiter', () => {
  it('returns a decision naming the binding policy and listing every policy', async () => {
    const { limiter, clock } = twoPolicyLimiter()
    const first = await limiter.limit('u')
    expect(first).toEqual({
      allowed: true,
      limit: 3,
      remaining: 2,
      resetAtMs: clock() + 1_000,
      retryAfterMs: 0,
      policy: 'burst', // the least remaining
      tier: undefined,
      reason: 'allowed',
      cost: 1,
      nowMs: clock(),
      policies: [
        {
          name: 'burst',
          kind: 'token-bucket',
          limit: 3,
          windowMs: 1_000,
          allowed: true,
          remaining: 2,
          resetAtMs: clock() + 1_000,
          retryAfterMs: 0,
        },
        {
          name: 'daily',
          kind: 'fixed-window',
          limit: 5,
          windowMs: DAY_MS,
          allowed: true,
          remaining: 4,
          resetAtMs: clock() + DAY_MS,
          retryAfterMs: 0,
        },
      ],
    })
  })

  it('binds the denying policy with the longest wait', async () => {
    const { limiter, clock } = twoPolicyLimiter()
    for (let i = 0; i < 3; i++) await limiter.limit('u')
    const burstDenied = await limiter.limit('u')
    expect(burstDenied).toMatchObject({ allowed: false, policy: 'burst', retryAfterMs: 1_000 })
    clock.advance(2_000)
    await limiter.limit('u')
    await limiter.limit('u') // daily is spent: 5 of 5
    clock.advance(1_000)
    // Both refuse a cost of 3: the bucket for 2 s more, the day until midnight.
    const d = await limiter.limit('u', { cost: 3 })
    expect(d).toMatchObject({ allowed: false, reason: 'limited', policy: 'daily', limit: 5 })
    expect(d.retryAfterMs).toBe(DAY_MS - 3_000)
    expect(d.policies.map((p) => p.allowed)).toEqual([false, false])
  })

  it('binds the policy with the least remaining when every policy admits, wherever it is listed', async () => {
    const clock = manualClock(20_000 * DAY_MS)
    const limiter = createRateLimiter({
      policies: [
        fixedWindow({ name: 'daily', limit: 5, window: '1 d' }),
        tokenBucket({ name: 'burst', capacity: 3, refillRate: 1, interval: '1 s' }),
      ],
      store: memoryStore({ clock }),
    })
    // Every figure is the binding policy's: the bucket is full again in a second, the day ends later.
    expect(await limiter.limit('u')).toMatchObject({
      allowed: true,
      policy: 'burst',
      limit: 3,
      remaining: 2,
      resetAtMs: clock() + 1_000,
    })
  })

  it('breaks a tie by configuration order: the first of equal waits, the first of equal remaining', async () => {
    const clock = manualClock(20_000 * DAY_MS)
    const limiter = createRateLimiter({
      policies: [
        fixedWindow({ name: 'first', limit: 1, window: '1 m' }),
        fixedWindow({ name: 'second', limit: 1, window: '1 m' }),
      ],
      store: memoryStore({ clock }),
    })
    expect(await limiter.limit('u')).toMatchObject({ allowed: true, policy: 'first', remaining: 0 })
    const denied = await limiter.limit('u')
    expect(denied.policies.map((p) => [p.allowed, p.retryAfterMs])).toEqual([
      [false, 60_000],
      [false, 60_000],
    ])
    expect(denied).toMatchObject({ allowed: false, policy: 'first' })
  })

  it('binds the denying policy with the longest wait among several, whichever order they come in', async () => {
    const windows = { minute: '1 m', hour: '1 h' } as const
    for (const order of [['minute', 'hour'] as const, ['hour', 'minute'] as const]) {
      const clock = manualClock(20_000 * DAY_MS)
      const limiter = createRateLimiter({
        policies: [
          fixedWindow({ name: 'roomy', limit: 100, window: '1 d' }),
          ...order.map((name) => fixedWindow({ name, limit: 1, window: windows[name] })),
        ],
        store: memoryStore({ clock }),
      })
      await limiter.limit('u')
      const d = await limiter.limit('u')
      expect(
        d.policies.map((p) => p.allowed),
        order.join(', '),
      ).toEqual([true, false, false])
      expect(d, order.join(', ')).toMatchObject({ allowed: false, policy: 'hour', retryAfterMs: 3_600_000 })
    }
  })

  it('denies a request any policy denies, whatever figures the store gives the others', async () => {
    // A store of your own may answer figures the built-in policies never give together: a denial
    // with no wait, or one with more remaining than a policy that admits. Every denial still denies.
    const cases: PolicyOutcome[][] = [
      [
        { allowed: true, remaining: 5, resetAtMs: 1_000, retryAfterMs: 0 },
        { allowed: false, remaining: 0, resetAtMs: 1_000, retryAfterMs: 0 },
      ],
      [
        { allowed: false, remaining: 4, resetAtMs: 1_000, retryAfterMs: 500 },
        { allowed: true, remaining: 1, resetAtMs: 1_000, retryAfterMs: 0 },
      ],
    ]
    for (const outcomes of cases) {
      const store: RateLimitStore = {
        name: 'custom',
        local: false,
        consume: () => ({ nowMs: 0, outcomes: outcomes.map((o) => ({ ...o })) }),
        reset: () => {},
        close: () => {},
      }
      const limiter = createRateLimiter({
        policies: [
          fixedWindow({ name: 'a', limit: 10, window: '1 m' }),
          fixedWindow({ name: 'b', limit: 10, window: '1 m' }),
        ],
        store,
        denyCache: false,
      })
      const denying = outcomes.findIndex((o) => !o.allowed)
      expect(await limiter.limit('u')).toMatchObject({
        allowed: false,
        reason: 'limited',
        policy: ['a', 'b'][denying],
        remaining: outcomes[denying]!.remaining,
        retryAfterMs: outcomes[denying]!.retryAfterMs,
      })
    }
  })

  it('peek() answers as limit() would and changes nothing', async () => {
    const { limiter } = twoPolicyLimiter()
    await limiter.limit('u')
    const peeked = await limiter.peek('u')
    expect(await limiter.peek('u')).toEqual(peeked)
    expect(await limiter.limit('u')).toEqual(peeked)
  })

  it('reset() restores exactly that identifier', async () => {
    const { limiter } = twoPolicyLimiter()
    for (const id of ['a', 'a:b', '*']) for (let i = 0; i < 3; i++) await limiter.limit(id)
    await limiter.reset('*')
    expect((await limiter.peek('*')).remaining).toBe(2)
    expect((await limiter.peek('a')).allowed).toBe(false)
    expect((await limiter.peek('a:b')).allowed).toBe(false)
  })

  it('keeps peek, reset and close on a copy made by spreading it, and when passed on alone', async () => {
    // The limiter's own memory store (on the real clock), which close() closes: a day-long window, so
    // no window end falls between the limit() and the peek() that finds it spent (only midnight UTC).
    const limiter = createRateLimiter({ policies: fixedWindow({ limit: 1, window: '1 d' }), logger: false })
    const limits: string[] = []
    // A wrapper the RateLimiter type allows: the limiter's own properties, and a limit() of its own.
    const wrapped = {
      ...limiter,
      limit: (id: string) => {
        limits.push(id)
        return limiter.limit(id)
      },
    }
    expect((await wrapped.limit('a')).allowed).toBe(true)
    expect((await wrapped.peek('a')).allowed).toBe(false)
    const { reset, close } = wrapped
    await reset('a')
    expect((await limiter.peek('a')).allowed).toBe(true)
    await close()
    await expect(limiter.limit('a')).rejects.toMatchObject({ code: 'ERR_FLOODGATE_CLOSED' })
    expect(limits).toEqual(['a'])
  })

  it('keeps long identifiers apart, even when they share a long beginning', async () => {
    const { limiter } = twoPolicyLimiter()
    const long = 'k'.repeat(10_000)
    for (let i = 0; i < 3; i++) await limiter.limit(`${long}1`)
    expect((await limiter.limit(`${long}1`)).allowed).toBe(false)
    expect((await limiter.limit(`${long}2`)).allowed).toBe(true)
  })

  it('keeps two limiters with different prefixes on one store apart', async () => {
    const store = memoryStore({ clock: manualClock(0) })
    const policies = slidingWindow({ limit: 1, window: '1 m' })
    const a = createRateLimiter({ policies, store, prefix: 'a' })
    const b = createRateLimiter({ policies, store, prefix: 'b' })
    expect((await a.limit('u')).allowed).toBe(true)
    expect((await a.limit('u')).allowed).toBe(false)
    expect((await b.limit('u')).allowed).toBe(true)
  })

  it('answers limit() and peek() with a promise, and DECIDE_NOW with the decision itself when it is known at once', async () => {
    const one = fixedWindow({ limit: 5, window: '1 m' })
    const two = [one, tokenBucket({ name: 'burst', capacity: 3, refillRate: 1, interval: '1 s' })]
    // A store of your own that is not `local` but answers at once.
    const atOnce = (): RateLimitStore => {
      const counters = memoryStore({ clock: manualClock(20_000 * DAY_MS) })
      return {
        name: 'at-once',
        local: false,
        consume: (r) => counters.consume(r),
        reset: (r) => counters.reset(r),
        close: () => counters.close(),
      }
    }
    for (const [policies, store] of [
      [[one], memoryStore({ clock: manualClock(20_000 * DAY_MS) })],
      [two, memoryStore({ clock: manualClock(20_000 * DAY_MS) })],
      [[one], atOnce()],
      [two, atOnce()],
    ] as const) {
      const limiter = createRateLimiter({ policies, store, denyCache: false })
      const limited = limiter.limit('u')
      const peeked = limiter.peek('u')
      expect(limited).toBeInstanceOf(Promise)
      expect(peeked).toBeInstanceOf(Promise)
      const first = await limited
      await peeked
      const now = (limiter as RateLimiter & DecidingNow)[DECIDE_NOW]('u')
      expect(now).not.toBeInstanceOf(Promise)
      expect(now).toMatchObject({ allowed: true, reason: 'allowed', remaining: first.remaining - 1 })
      // Charged, as limit() is.
      expect((await limiter.limit('u')).remaining).toBe(first.remaining - 2)
      await limiter.close()
    }
    // A store that fails at once: its failure decision, a promise from limit() and itself from
    // DECIDE_NOW. The memory store for one policy and for several (each has a path of its own), and a
    // store of your own that throws, or answers something that is no decision, at once.
    const closed = memoryStore()
    closed.close()
    const failingAtOnce = (consume: () => never): RateLimitStore => ({
      name: 'failing',
      local: false,
      consume,
      reset: () => {},
      close: () => {},
    })
    for (const [policies, store] of [
      [[one], closed],
      [two, closed],
      [
        [one],
        failingAtOnce(() => {
          throw new Error('connection refused')
        }),
      ],
      [[one], failingAtOnce(() => ({ nowMs: Number.NaN, outcomes: [] }) as never)],
    ] as const) {
      const limiter = createRateLimiter({ policies, store, logger: false })
      const failed = limiter.limit('u')
      expect(failed).toBeInstanceOf(Promise)
      expect(await failed).toMatchObject({ reason: 'store-error' })
      const failedNow = (limiter as RateLimiter & DecidingNow)[DECIDE_NOW]('u')
      expect(failedNow).not.toBeInstanceOf(Promise)
      expect(failedNow).toMatchObject({ reason: 'store-error' })
    }
    const failing = createRateLimiter({ policies: one, store: closed, logger: false })
    // A bad argument: limit() rejects, DECIDE_NOW throws.
    const decideNow = (failing as RateLimiter & DecidingNow)[DECIDE_NOW].bind(failing)
    await expect(failing.limit('u', { cost: 0 })).rejects.toMatchObject({
      code: 'ERR_FLOODGATE_INVALID_COST',
    })
    expect(() => decideNow('u', { cost: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_COST' }),
    )
    expect(() => decideNow(42 as never)).toThrow(
      expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_IDENTIFIER' }),
    )
  })
})
