import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Decision } from './decision.js'
import { ERROR_CODES, type FloodgateError } from './errors.js'
import { rateLimitHeaders } from './headers.js'
import { createRateLimiter } from './limiter.js'
import { fixedWindow } from './policies/fixed-window.js'
import type { Policy } from './policies/types.js'
import { type QueuedCall, SUBMIT } from './queued-call.js'
import type { RateLimitStore, StoreResponse } from './store.js'

const boom = new Error('connection refused')

/** A remote-looking store (`local: false`, so the limiter applies its deadline) failing one way. */
function failingStore(consume: () => StoreResponse | Promise<StoreResponse>): RateLimitStore {
  return { name: 'flaky', local: false, consume, reset: () => {}, close: () => {} }
}

function limiterOn(store: RateLimitStore, onStoreError: 'allow' | 'deny') {
  const failures: FloodgateError[] = []
  const warnings: string[] = []
  const limiter = createRateLimiter({
    policies: fixedWindow({ limit: 5, window: '1 m' }),
    store,
    onStoreError,
    onStoreFailure: (error) => failures.push(error),
    logger: { warn: (message) => warnings.push(message) },
  })
  return { limiter, failures, warnings }
}

const ways: [string, () => StoreResponse | Promise<StoreResponse>][] = [
  [
    'throws',
    () => {
      throw boom
    },
  ],
  ['rejects', () => Promise.reject(boom)],
]

afterEach(() => {
  vi.useRealTimers()
})

/**
 * A store that fails with `cause`, thrown and rejected, on `consume` and on `reset`: `limit()` gives
 * a store-error decision whose message tells `told`, and `reset()` rejects with STORE_ERROR.
 */
async function expectStoreErrorDecisions(cause: unknown, told: string): Promise<void> {
  for (const consume of [
    () => {
      throw cause
    },
    () => Promise.reject(cause),
  ]) {
    const { limiter, failures } = limiterOn({ ...failingStore(consume), reset: consume }, 'deny')
    const d = await limiter.limit('a')
    expect(d).toMatchObject({
      allowed: false,
      reason: 'store-error',
      error: { code: ERROR_CODES.STORE_ERROR },
    })
    expect(d.error?.message).toMatch(new RegExp(`^The flaky store failed: ${told}\\. `))
    expect(d.error?.cause).toBe(cause)
    await expect(limiter.reset('a')).rejects.toMatchObject({ code: ERROR_CODES.STORE_ERROR, cause })
    expect(failures).toHaveLength(2)
  }
}

describe('store failures', () => {
  for (const [how, consume] of ways) {
    for (const onStoreError of ['allow', 'deny'] as const) {
      it(`a store that ${how} gives a store-error decision that follows onStoreError '${onStoreError}'`, async () => {
        const { limiter, failures, warnings } = limiterOn(failingStore(consume), onStoreError)
        const d = await limiter.limit('a')
        expect(d).toMatchObject({ allowed: onStoreError === 'allow', reason: 'store-error', policies: [] })
        // No quota figures: the store gave none.
        expect(d).toMatchObject({ limit: 0, remaining: 0, retryAfterMs: 0, resetAtMs: d.nowMs })
        expect(d.error?.code).toBe(ERROR_CODES.STORE_ERROR)
        expect(d.error?.cause).toBe(boom)
        expect(d.error?.message).toContain('connection refused')
        expect(failures).toEqual([d.error])
        expect(rateLimitHeaders(d, ['draft-8', 'legacy'])).toEqual({})
        // Repeated failures are reported to the hook every time, to the log once a minute.
        await limiter.limit('a')
        expect(failures).toHaveLength(2)
        expect(warnings).toHaveLength(1)
        expect(warnings[0]).toContain(ERROR_CODES.STORE_ERROR)
      })
    }
  }

  it('a store that never answers times out after `timeout` with STORE_TIMEOUT', async () => {
    vi.useFakeTimers()
    const { limiter, failures } = limiterOn(
      failingStore(() => new Promise<never>(() => {})),
      'deny',
    )
    let settled: Decision | undefined
    const pending = limiter.limit('a').then((d) => {
      settled = d
    })
    await vi.advanceTimersByTimeAsync(249)
    expect(settled).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    await pending
    expect(settled).toMatchObject({ allowed: false, reason: 'store-error' })
    expect(settled?.error?.code).toBe(ERROR_CODES.STORE_TIMEOUT)
    expect(settled?.error?.message).toMatch(/^The flaky store did not answer within 250 ms\. /)
    expect(failures.map((e) => e.code)).toEqual([ERROR_CODES.STORE_TIMEOUT])
    expect(rateLimitHeaders(settled!, ['draft-8', 'legacy'])).toEqual({})
  })

  it('a reset the store never answers times out, a thenable of a client other than Promise too', async () => {
    vi.useFakeTimers()
    // A client's own promise type: it has `then`, is no `Promise`, and this one never settles.
    // biome-ignore lint/suspicious/noThenProperty: a thenable that is not a native Promise, on purpose
    const never = { then: () => undefined } as unknown as PromiseLike<void>
    for (const pending of [new Promise<void>(() => {}), never]) {
      const store = { ...failingStore(() => Promise.reject(boom)), reset: () => pending as Promise<void> }
      const { limiter, failures } = limiterOn(store, 'deny')
      let error: FloodgateError | undefined
      const reset = limiter.reset('a').catch((e: FloodgateError) => {
        error = e
      })
      await vi.advanceTimersByTimeAsync(249)
      expect(error).toBeUndefined()
      await vi.advanceTimersByTimeAsync(1)
      await reset
      expect(error?.code).toBe(ERROR_CODES.STORE_TIMEOUT)
      expect(failures).toEqual([error])
    }
  })

  describe('the log of an outage', () => {
    /** A limiter on a store that fails while `down`, logging to `lines`, at a fake `Date.now()`. */
    function outageLog(startMs = 1_700_000_000_000, onStoreError: 'allow' | 'deny' = 'allow') {
      vi.useFakeTimers({ toFake: ['Date'], now: startMs })
      const state = { down: true }
      const ok = { allowed: true, remaining: 4, resetAtMs: startMs + 60_000, retryAfterMs: 0 }
      const store = failingStore(() =>
        state.down ? Promise.reject(boom) : Promise.resolve({ nowMs: Date.now(), outcomes: [ok] }),
      )
      const lines: string[] = []
      const limiter = createRateLimiter({
        policies: fixedWindow({ name: 'api', limit: 5, window: '1 m' }),
        store,
        prefix: 'search',
        onStoreError,
        logger: { warn: (line) => lines.push(line) },
      })
      /** `failures` failed decisions, `seconds` of downtime, then two answered ones. */
      const outage = async (failures: number, seconds: number) => {
        state.down = true
        for (let i = 0; i < failures; i++) expect((await limiter.limit(`f${i}`)).reason).toBe('store-error')
        vi.advanceTimersByTime(seconds * 1000)
        state.down = false
        expect((await limiter.limit('ok')).reason).toBe('allowed')
        expect((await limiter.limit('ok')).reason).toBe('allowed')
      }
      const answered = async () => expect((await limiter.limit('ok')).reason).toBe('allowed')
      const codes = () => lines.map((line) => /WARN_FLOODGATE_STORE_(\w+)/.exec(line)?.[1])
      return { lines, outage, answered, codes, limiter, state }
    }

    it('names the limiter and policy, then says when the store answers again, since when and with what', async () => {
      const { lines, outage } = outageLog()
      await outage(3, 12.5)
      expect(lines).toEqual([
        expect.stringMatching(
          /^\[floodgate\] WARN_FLOODGATE_STORE_FAILURE: The flaky store failed: connection refused\. .* Requests of the limiter with prefix "search" \(policy "api"\) are allowed \(onStoreError: 'allow'\) until the store answers again, which will be logged\.$/,
        ),
        '[floodgate] WARN_FLOODGATE_STORE_RECOVERED: The flaky store answers the limiter with prefix "search" again. Since its failures began 12.5 s ago, 3 requests got no decision from it: 3 allowed uncounted.',
      ])
    })

    it('logs a second outage within the minute at once, and its recovery at the first answer after the minute', async () => {
      const { lines, outage, answered, codes } = outageLog()
      await outage(3, 1)
      vi.advanceTimersByTime(20_000)
      await outage(2, 4)
      // A store failing every other call logs one recovery line a minute.
      expect(codes()).toEqual(['FAILURE', 'RECOVERED', 'FAILURE'])
      vi.advanceTimersByTime(40_000)
      await answered()
      expect(codes()).toEqual(['FAILURE', 'RECOVERED', 'FAILURE', 'RECOVERED'])
      expect(lines[3]).toMatch(
        /Since its failures began 44\.0 s ago, 2 requests got no decision from it: 2 allowed uncounted\.$/,
      )
    })

    it('keeps logging failures after many outages (each code has a budget of keys)', async () => {
      const { outage, codes } = outageLog()
      for (let i = 0; i < 150; i++) {
        await outage(1, 1)
        vi.advanceTimersByTime(60_000)
      }
      expect(codes()).toEqual(Array.from({ length: 150 }, () => ['FAILURE', 'RECOVERED']).flat())
    })

    it("counts the requests denied under onStoreError 'deny', over the outage since its first failure", async () => {
      const { lines, limiter, state, outage } = outageLog(1_700_000_000_000, 'deny')
      // A store that has not failed tells no recovery.
      state.down = false
      expect((await limiter.limit('ok')).reason).toBe('allowed')
      expect(lines).toEqual([])
      state.down = true
      expect(await limiter.limit('a')).toMatchObject({ allowed: false, reason: 'store-error' })
      vi.advanceTimersByTime(10_000)
      expect(await limiter.limit('b')).toMatchObject({ allowed: false, reason: 'store-error' })
      vi.advanceTimersByTime(5_000)
      state.down = false
      expect((await limiter.limit('ok')).reason).toBe('allowed')
      expect(lines).toHaveLength(2)
      expect(lines[1]).toBe(
        '[floodgate] WARN_FLOODGATE_STORE_RECOVERED: The flaky store answers the limiter with prefix "search" again. Since its failures began 15.0 s ago, 2 requests got no decision from it: 2 denied.',
      )
      expect(lines[0]).toMatch(
        / are denied \(onStoreError: 'deny'\) until the store answers again, which will be logged\.$/,
      )
      // The next outage counts its own requests only.
      vi.advanceTimersByTime(60_000)
      await outage(1, 3)
      expect(lines[3]).toMatch(
        /Since its failures began 3\.0 s ago, 1 request got no decision from it: 1 denied\.$/,
      )
    })

    it('holds a recovery line back until exactly a minute after the last one', async () => {
      const { lines, outage, answered, codes } = outageLog()
      // Its recovery line at 1 s; the next outage fails and answers at 2 s, within the minute.
      await outage(1, 1)
      vi.advanceTimersByTime(1_000)
      await outage(1, 0)
      expect(codes()).toEqual(['FAILURE', 'RECOVERED', 'FAILURE'])
      vi.advanceTimersByTime(58_999)
      await answered()
      expect(codes()).toHaveLength(3)
      vi.advanceTimersByTime(1)
      await answered()
      expect(codes()).toEqual(['FAILURE', 'RECOVERED', 'FAILURE', 'RECOVERED'])
      expect(lines[3]).toMatch(/Since its failures began 59\.0 s ago, 1 request got no decision/)
    })

    it('logs the failure line again exactly a minute after the last, while the store stays down', async () => {
      const { limiter, codes } = outageLog()
      await limiter.limit('a')
      vi.advanceTimersByTime(59_999)
      await limiter.limit('b')
      expect(codes()).toEqual(['FAILURE'])
      vi.advanceTimersByTime(1)
      await limiter.limit('c')
      expect(codes()).toEqual(['FAILURE', 'FAILURE'])
    })

    it('tells a long outage in seconds, to the tenth', async () => {
      const { lines, outage } = outageLog()
      await outage(1, 1_000)
      expect(lines[1]).toMatch(/Since its failures began 1000\.0 s ago, 1 request got no decision/)
    })

    it('tells an outage that began at the epoch (a fake clock at 0)', async () => {
      const { lines, outage, codes } = outageLog(0)
      await outage(1, 5)
      expect(codes()).toEqual(['FAILURE', 'RECOVERED'])
      expect(lines[1]).toMatch(
        /Since its failures began 5\.0 s ago, 1 request got no decision from it: 1 allowed uncounted\.$/,
      )
    })
  })

  it('a store that rejects after its deadline leaves no unhandled rejection', async () => {
    vi.useFakeTimers()
    const late = failingStore(
      () => new Promise<never>((_, reject) => setTimeout(() => reject(new Error('too late')), 1_000)),
    )
    const { limiter, failures } = limiterOn(late, 'allow')
    const pending = limiter.limit('a')
    await vi.advanceTimersByTimeAsync(250)
    expect((await pending).error?.code).toBe(ERROR_CODES.STORE_TIMEOUT)
    // vitest fails the run on an unhandled rejection, so this must settle quietly.
    await vi.advanceTimersByTimeAsync(1_000)
    // The call was answered at its deadline: the late rejection is not reported a second time.
    expect(failures).toHaveLength(1)
  })

  it("names the request's first policy, its tier and its cost in a failure decision on several policies", async () => {
    const warnings: string[] = []
    const limiter = createRateLimiter({
      tiers: {
        free: [
          fixedWindow({ name: 'burst', limit: 5, window: '1 s' }),
          fixedWindow({ name: 'daily', limit: 100, window: '1 d' }),
        ],
        pro: [
          fixedWindow({ name: 'burst', limit: 50, window: '1 s' }),
          fixedWindow({ name: 'daily', limit: 1_000, window: '1 d' }),
        ],
      },
      defaultTier: 'free',
      store: failingStore(() => Promise.reject(boom)),
      logger: { warn: (line) => warnings.push(line) },
    })
    expect(await limiter.limit('a', { tier: 'pro', cost: 3 })).toMatchObject({
      reason: 'store-error',
      policy: 'burst',
      tier: 'pro',
      cost: 3,
      policies: [],
    })
    expect(warnings[0]).toContain('(policy "burst")')
  })

  it('gives a decision for a failure that has no string of its own, thrown or rejected, and a reset rejects with it', async () => {
    // String() of either throws: a null-prototype object (a client's error made by Object.create(null)),
    // an object whose toString throws.
    const noString = () => {
      throw new Error('no string')
    }
    for (const cause of [Object.create(null) as object, { toString: noString }]) {
      await expectStoreErrorDecisions(cause, 'an object')
    }
  })

  it('gives a decision for an Error whose message is no string or cannot be read, and a reset rejects with it', async () => {
    // A client's error given a number or an object for its message, or one read through a getter that throws.
    const causes: [Error, string][] = [
      [Object.assign(new Error('x'), { message: 503 }), 'Error'],
      [
        new Error('fetch failed', { cause: Object.assign(new Error('x'), { message: { status: 502 } }) }),
        'fetch failed',
      ],
      [
        Object.defineProperty(new Error('x'), 'message', {
          get: () => {
            throw new Error('no message')
          },
        }),
        'an object',
      ],
    ]
    for (const [cause, told] of causes) await expectStoreErrorDecisions(cause, told)
  })

  it('wraps any other error, whatever its own code, as STORE_ERROR', async () => {
    const { limiter } = limiterOn(
      failingStore(() => {
        throw Object.assign(new Error('x'), { code: 'ECONNRESET' })
      }),
      'allow',
    )
    expect((await limiter.limit('a')).error?.code).toBe(ERROR_CODES.STORE_ERROR)
  })

  describe("a failure line's cause", () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' })
    const chain = (n: number): Error => {
      let error = new Error(`e${n - 1}`)
      for (let i = n - 2; i >= 0; i--) error = new Error(`e${i}`, { cause: error })
      return error
    }
    const causes: [string, unknown, string][] = [
      ['a thrown string', 'ERR max clients reached', 'ERR max clients reached'],
      [
        'an error with a code and no cause',
        Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
        'socket hang up',
      ],
      [
        "fetch's inner error naming its code",
        new Error('fetch failed', { cause: refused }),
        `fetch failed (${refused.message})`,
      ],
      [
        'an inner error with a code its message lacks',
        new Error('fetch failed', {
          cause: Object.assign(new Error('getaddrinfo failed'), { code: 'ENOTFOUND' }),
        }),
        'fetch failed (ENOTFOUND: getaddrinfo failed)',
      ],
      [
        'an inner error with only a code',
        new Error('fetch failed', { cause: Object.assign(new Error(''), { code: 'ECONNRESET' }) }),
        'fetch failed (ECONNRESET)',
      ],
      [
        'an inner error whose code is no string',
        new Error('fetch failed', { cause: Object.assign(new Error('bad gateway'), { code: 502 }) }),
        'fetch failed (bad gateway)',
      ],
      [
        'an inner error saying what the outer one says',
        new Error('Connection is closed.', { cause: new Error('Connection is closed.') }),
        'Connection is closed',
      ],
      [
        'an error with no message (a TimeoutError)',
        Object.assign(new Error(''), { name: 'TimeoutError' }),
        'TimeoutError',
      ],
      [
        "an @upstash/redis error naming its command's keys",
        new Error('Unauthorized, command was: ["evalsha","abc","api:user@example.com"]'),
        'Unauthorized',
      ],
      ['an error ending with a full stop', new Error('Command timed out.'), 'Command timed out'],
      ['causes ten deep (eight followed)', chain(10), 'e0 (e8)'],
    ]
    for (const [what, cause, told] of causes) {
      it(`says ${what} as "${told}"`, async () => {
        const { limiter, failures } = limiterOn(
          failingStore(() => {
            throw cause
          }),
          'allow',
        )
        const { message } = (await limiter.limit('a')).error!
        expect(message.slice(0, message.indexOf(' (ERR_FLOODGATE_'))).toBe(`The flaky store failed: ${told}.`)
        expect(failures[0]?.cause).toBe(cause)
      })
    }
  })

  it("handles an async onStoreFailure hook's rejection (no unhandled rejection in an outage)", async () => {
    const handlers: unknown[][] = []
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 5, window: '1 m' }),
      store: failingStore(() => Promise.reject(boom)),
      // A client's thenable: how its rejection is handled shows in the handlers `then` is given.
      // biome-ignore lint/suspicious/noThenProperty: a thenable that is not a native Promise, on purpose
      onStoreFailure: () => ({ then: (...args: unknown[]) => handlers.push(args) }),
      logger: false,
    })
    expect(await limiter.limit('a')).toMatchObject({ allowed: true, reason: 'store-error' })
    expect(handlers).toHaveLength(1)
    expect(typeof handlers[0]![1]).toBe('function')
  })

  it('a throwing onStoreFailure hook does not turn the decision into an exception', async () => {
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 5, window: '1 m' }),
      store: failingStore(() => Promise.reject(boom)),
      onStoreFailure: () => {
        throw new Error('hook failed')
      },
      logger: false,
    })
    expect(await limiter.limit('a')).toMatchObject({ allowed: true, reason: 'store-error' })
  })

  it('gives a `local` store no deadline, even when it answers through a promise', async () => {
    vi.useFakeTimers()
    const ok = { allowed: true, remaining: 4, resetAtMs: 1_700_000_060_000, retryAfterMs: 0 }
    const later = <T>(value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), 1_000))
    const store: RateLimitStore = {
      ...failingStore(() => later({ nowMs: 1_700_000_000_000, outcomes: [ok] })),
      local: true,
      reset: () => later(undefined),
    }
    const { limiter, failures } = limiterOn(store, 'deny')
    const decided = limiter.limit('a')
    let reset = false
    const resetting = limiter.reset('a').then(
      () => {
        reset = true
      },
      (error: FloodgateError) => error.code,
    )
    await vi.advanceTimersByTimeAsync(999)
    expect(reset).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(await decided).toMatchObject({ allowed: true, reason: 'allowed', remaining: 4 })
    expect(await resetting).toBeUndefined()
    expect(reset).toBe(true)
    expect(failures).toEqual([])
  })

  it('a store that refuses a call on its queued path (SUBMIT) fails it at once, as a store that throws does', async () => {
    vi.useFakeTimers()
    const refusing = Object.assign(
      failingStore(() => Promise.reject(new Error('not called: the limiter takes the SUBMIT path'))),
      {
        [SUBMIT]: () => {
          throw boom
        },
      },
    )
    const { limiter, failures } = limiterOn(refusing, 'deny')
    let settled: Decision | undefined
    void limiter.limit('a').then((d) => {
      settled = d
    })
    // No timer runs: the answer does not wait for the deadline.
    await vi.advanceTimersByTimeAsync(0)
    expect(settled).toMatchObject({ allowed: false, reason: 'store-error' })
    expect(settled?.error).toMatchObject({ code: ERROR_CODES.STORE_ERROR, cause: boom })
    expect(failures).toEqual([settled?.error])
  })

  it('a store whose thenable throws from `then` fails at once, as a store that throws does', async () => {
    vi.useFakeTimers()
    const broken = {
      // biome-ignore lint/suspicious/noThenProperty: a client's broken thenable, on purpose
      then: () => {
        throw boom
      },
    } as unknown as Promise<StoreResponse>
    const { limiter, failures } = limiterOn(
      failingStore(() => broken),
      'deny',
    )
    let settled: Decision | undefined
    void limiter.limit('a').then((d) => {
      settled = d
    })
    // No timer runs: the answer does not wait for the deadline.
    await vi.advanceTimersByTimeAsync(0)
    expect(settled).toMatchObject({ allowed: false, reason: 'store-error' })
    expect(settled?.error?.code).toBe(ERROR_CODES.STORE_ERROR)
    expect(settled?.error?.cause).toBe(boom)
    expect(failures).toEqual([settled?.error])
  })

  it('ignores whatever comes second: an answer after the deadline, the deadline after an answer or a failure', async () => {
    vi.useFakeTimers()
    const denied = { allowed: false, remaining: 0, resetAtMs: 1_700_000_060_000, retryAfterMs: 60_000 }
    const answer = { nowMs: 1_700_000_000_000, outcomes: [denied] }
    const state = { how: 'late' as 'late' | 'rejects' | 'now' }
    const store = failingStore(() =>
      state.how === 'late'
        ? new Promise((resolve) => setTimeout(() => resolve(answer), 1_000))
        : state.how === 'rejects'
          ? new Promise((_, reject) => setTimeout(() => reject(boom), 100))
          : Promise.resolve({
              ...answer,
              outcomes: [{ ...denied, allowed: true, remaining: 4, retryAfterMs: 0 }],
            }),
    )
    const { limiter, failures, warnings } = limiterOn(store, 'deny')
    // Timed out, then answered: the late denial is neither the decision nor remembered, and tells no recovery.
    const late = limiter.limit('a')
    await vi.advanceTimersByTimeAsync(250)
    expect(await late).toMatchObject({ reason: 'store-error', error: { code: ERROR_CODES.STORE_TIMEOUT } })
    await vi.advanceTimersByTimeAsync(1_000)
    expect(failures).toHaveLength(1)
    expect(warnings).toHaveLength(1)
    // Failed before the deadline: reported once, not again when the deadline passes.
    state.how = 'rejects'
    const rejected = limiter.limit('b')
    await vi.advanceTimersByTimeAsync(100)
    expect(await rejected).toMatchObject({ reason: 'store-error', error: { code: ERROR_CODES.STORE_ERROR } })
    await vi.advanceTimersByTimeAsync(1_000)
    expect(failures).toHaveLength(2)
    // Answered in time: no failure when the deadline passes.
    state.how = 'now'
    expect(await limiter.limit('a')).toMatchObject({ allowed: true, reason: 'allowed' })
    await vi.advanceTimersByTimeAsync(1_000)
    expect(failures).toHaveLength(2)
    expect(warnings.map((w) => /WARN_FLOODGATE_STORE_(\w+)/.exec(w)?.[1])).toEqual([
      'FAILURE',
      'FAILURE',
      'RECOVERED',
    ])
  })
})

describe('a store answering on its queued path (SUBMIT)', () => {
  /** A remote-looking store that queues each decision's call, for the test to answer when it likes. */
  function queuingStore() {
    const calls: QueuedCall[] = []
    const store = Object.assign(
      failingStore(() => Promise.reject(new Error('not called: the limiter takes the SUBMIT path'))),
      {
        [SUBMIT]: (
          _p: string,
          _id: string,
          _policies: readonly Policy[],
          _c: number,
          _peek: boolean,
          call: QueuedCall,
        ) => void calls.push(call),
      },
    )
    return { store, calls }
  }
  const nowMs = 1_700_000_000_000
  // The decision script's flat reply for one policy: allowed, remaining, reset in ms, retry after in ms.
  const admitted = [1, 4, 60_000, 0]
  const denied = [0, 0, 60_000, 60_000]

  it('answers with the reply, and ignores the deadline after it', async () => {
    vi.useFakeTimers()
    const { store, calls } = queuingStore()
    const { limiter, failures, warnings } = limiterOn(store, 'deny')
    const decided = limiter.limit('a')
    calls[0]!.respond(['ignored', ...admitted], 1, nowMs)
    expect(await decided).toMatchObject({
      allowed: true,
      reason: 'allowed',
      remaining: 4,
      resetAtMs: nowMs + 60_000,
    })
    await vi.advanceTimersByTimeAsync(1_000)
    expect(failures).toEqual([])
    expect(warnings).toEqual([])
  })

  it('ignores a reply after the deadline: neither the decision nor remembered, and it tells no recovery', async () => {
    vi.useFakeTimers()
    const { store, calls } = queuingStore()
    const { limiter, failures, warnings } = limiterOn(store, 'deny')
    const late = limiter.limit('a')
    await vi.advanceTimersByTimeAsync(250)
    expect(await late).toMatchObject({ reason: 'store-error', error: { code: ERROR_CODES.STORE_TIMEOUT } })
    calls[0]!.respond(denied, 0, nowMs)
    expect(failures).toHaveLength(1)
    expect(warnings.map((w) => /WARN_FLOODGATE_STORE_(\w+)/.exec(w)?.[1])).toEqual(['FAILURE'])
    // Not in the deny cache: the next request goes to the store.
    void limiter.limit('a')
    expect(calls).toHaveLength(2)
  })

  it('tells the recovery at the first reply after a failure', async () => {
    const { store, calls } = queuingStore()
    const { limiter, warnings } = limiterOn(store, 'allow')
    const failed = limiter.limit('a')
    calls[0]!.fail(boom)
    expect(await failed).toMatchObject({ allowed: true, reason: 'store-error' })
    const answered = limiter.limit('a')
    calls[1]!.respond(admitted, 0, nowMs)
    expect(await answered).toMatchObject({ allowed: true, reason: 'allowed' })
    expect(warnings.map((w) => /WARN_FLOODGATE_STORE_(\w+)/.exec(w)?.[1])).toEqual(['FAILURE', 'RECOVERED'])
  })

  for (const onStoreError of ['allow', 'deny'] as const) {
    it(`a reply that is no decision is a store failure that follows onStoreError '${onStoreError}'`, async () => {
      const { store, calls } = queuingStore()
      const { limiter, failures } = limiterOn(store, onStoreError)
      const decided = limiter.limit('a')
      calls[0]!.respond([1, 'many', 60_000, 0], 0, nowMs)
      const d = await decided
      expect(d).toMatchObject({ allowed: onStoreError === 'allow', reason: 'store-error', policies: [] })
      expect(d.error?.code).toBe(ERROR_CODES.STORE_ERROR)
      expect(d.error?.message).toContain('The decision script answered')
      expect(failures).toEqual([d.error])
    })
  }
})

describe('a store answering something that is not a decision', () => {
  const ok = { allowed: true, remaining: 4, resetAtMs: 1_700_000_060_000, retryAfterMs: 0 }
  const answers: [string, unknown, string][] = [
    ['undefined', undefined, 'got undefined'],
    ['null', null, 'got null'],
    ['no outcomes', { nowMs: 1_700_000_000_000 }, 'expected 1 outcome(s), got undefined'],
    ['no outcome', { nowMs: 1_700_000_000_000, outcomes: [] }, 'expected 1 outcome(s), got 0'],
    [
      'two outcomes for one policy',
      { nowMs: 1_700_000_000_000, outcomes: [ok, ok] },
      'expected 1 outcome(s), got 2',
    ],
    ['an empty outcome', { nowMs: 1_700_000_000_000, outcomes: [{}] }, 'outcomes[0].allowed is undefined'],
    [
      'an outcome with only allowed',
      { nowMs: 1_700_000_000_000, outcomes: [{ allowed: true }] },
      'outcomes[0].remaining is undefined',
    ],
    [
      'a fractional count',
      { nowMs: 1_700_000_000_000, outcomes: [{ ...ok, remaining: 1.5 }] },
      'outcomes[0].remaining is 1.5',
    ],
    ['NaN as the time', { nowMs: Number.NaN, outcomes: [ok] }, 'nowMs is NaN'],
    ['a null outcome', { nowMs: 1_700_000_000_000, outcomes: [null] }, 'outcomes[0] is null'],
    ['a number as the outcome', { nowMs: 1_700_000_000_000, outcomes: [5] }, 'outcomes[0] is 5'],
    [
      'a negative count',
      { nowMs: 1_700_000_000_000, outcomes: [{ ...ok, remaining: -1 }] },
      'outcomes[0].remaining is -1',
    ],
    [
      'NaN as the reset time',
      { nowMs: 1_700_000_000_000, outcomes: [{ ...ok, resetAtMs: Number.NaN }] },
      'outcomes[0].resetAtMs is NaN',
    ],
    [
      'a negative wait',
      { nowMs: 1_700_000_000_000, outcomes: [{ ...ok, allowed: false, retryAfterMs: -1 }] },
      'outcomes[0].retryAfterMs is -1',
    ],
  ]
  for (const [what, answer, problem] of answers) {
    for (const [how, consume] of [
      ['at once', () => answer as StoreResponse],
      ['in a promise', () => Promise.resolve(answer as StoreResponse)],
    ] as const) {
      for (const onStoreError of ['allow', 'deny'] as const) {
        it(`${what}, ${how}: a store failure that follows onStoreError '${onStoreError}' (${problem})`, async () => {
          const { limiter, failures } = limiterOn(failingStore(consume), onStoreError)
          const d = await limiter.limit('a')
          expect(d).toMatchObject({ allowed: onStoreError === 'allow', reason: 'store-error', policies: [] })
          expect(rateLimitHeaders(d, ['draft-8', 'legacy'])).toEqual({})
          expect(failures).toHaveLength(1)
          expect(failures[0]!.code).toBe(ERROR_CODES.STORE_ERROR)
          expect(failures[0]!.message).toContain(
            `The flaky store answered with an invalid response: ${problem}`,
          )
        })
      }
    }
  }

  it('accepts a store clock with fractions of a millisecond, and a denial that never clears', async () => {
    const nowMs = 1_700_000_000_000.25
    const store = failingStore(() => ({
      nowMs,
      outcomes: [
        { allowed: false, remaining: 0, resetAtMs: nowMs + 1_000.5, retryAfterMs: Number.POSITIVE_INFINITY },
      ],
    }))
    const { limiter, failures } = limiterOn(store, 'deny')
    expect(await limiter.limit('a', { cost: 9 })).toMatchObject({
      allowed: false,
      reason: 'cost-exceeds-limit',
    })
    expect(failures).toEqual([])
  })
})
