import { randomUUID } from 'node:crypto'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net'
import { describeRedis, upstashTestClient, useUpstashServer } from '@floodgate/tools'
import { MultiRegionRatelimit, Ratelimit } from '@upstash/ratelimit'
import { type Redis, Redis as UpstashRedis } from '@upstash/redis'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Decision } from '../decision.js'
import { isFloodgateError } from '../errors.js'
import { rateLimitHeaders } from '../headers.js'
import type { RateLimiter } from '../limiter.js'
import { fromUpstash, type UpstashRatelimitResponse } from './from-upstash.js'

// @upstash/ratelimit reads Date.now(); a fixed fake date keeps every call inside one window.
const NOW_MS = Date.UTC(2031, 0, 1, 12, 0, 30)
const RUN = randomUUID().slice(0, 8)

/**
 * Spends the quota of `u` (a limit of 2) and sends one more request, denied by Redis, whose answer
 * is held on its way back while `reset('u')` runs: answers that late decision.
 */
async function denialAnsweredAfterReset(limiter: RateLimiter, tier?: string): Promise<Decision> {
  const realFetch = globalThis.fetch
  let hold: { arrived: () => void; release: Promise<void> } | undefined
  globalThis.fetch = (async (...args: Parameters<typeof fetch>) => {
    const held = hold
    hold = undefined
    const response = await realFetch(...args)
    if (held !== undefined) {
      held.arrived()
      await held.release
    }
    return response
  }) as typeof fetch
  try {
    await limiter.limit('u', { tier })
    await limiter.limit('u', { tier })
    let release = () => {}
    const arrived = new Promise<void>((resolve) => {
      hold = { arrived: resolve, release: new Promise<void>((r) => (release = r)) }
    })
    const late = limiter.limit('u', { tier })
    await arrived
    await limiter.reset('u')
    release()
    return await late
  } finally {
    globalThis.fetch = realFetch
  }
}

describeRedis('fromUpstash(ratelimit)', (redisUrl) => {
  const upstash = useUpstashServer(redisUrl)
  let redis: Redis
  /** Accepts connections and never answers: an Upstash that hangs. */
  let blackHole: Server
  let blackHoleUrl: string
  const sockets = new Set<Socket>()

  beforeAll(async () => {
    redis = upstash.redis
    blackHole = createServer((socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
    })
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve))
    const address = blackHole.address()
    blackHoleUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  })
  afterAll(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => blackHole?.close(resolve))
  })
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'], now: NOW_MS })
  })
  afterEach(() => {
    vi.useRealTimers()
    globalThis.fetch = realFetch
  })

  /** Upstash unreachable (every request fails) until `upstashUp()`, or the end of the test. */
  const realFetch = globalThis.fetch
  const upstashDown = () => {
    globalThis.fetch = (async () => {
      throw new TypeError('fetch failed')
    }) as typeof fetch
  }
  const upstashUp = () => {
    globalThis.fetch = realFetch
  }
  /** The outage lines' codes, in order. */
  const codesOf = (lines: string[]) => lines.map((line) => /WARN_FLOODGATE_STORE_\w+/.exec(line)?.[0])

  /** A Ratelimit fixed window of `limit` per 60 s under a prefix of its own, wrapped by fromUpstash. */
  // A long deadline: these tests are about answers, and a loaded host can take the default 250 ms.
  const fixedWindowOf = (limit: number, prefix: string, name?: string) =>
    fromUpstash(
      new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(limit, '60 s'), prefix: `${prefix}-${RUN}` }),
      name === undefined ? { window: '60 s', timeout: '5 s' } : { window: '60 s', timeout: '5 s', name },
    )

  it('turns its answers into decisions with the right headers', async () => {
    const limiter = fixedWindowOf(3, 'fu', 'api')
    const decisions = []
    for (let i = 0; i < 4; i++) decisions.push(await limiter.limit('client'))
    expect(decisions.map((d) => [d.allowed, d.reason, d.remaining])).toEqual([
      [true, 'allowed', 2],
      [true, 'allowed', 1],
      [true, 'allowed', 0],
      [false, 'limited', 0],
    ])
    expect(decisions[0]).toMatchObject({ retryAfterMs: 0 })
    const resetAtMs = Math.ceil((NOW_MS + 1) / 60_000) * 60_000
    expect(decisions[3]).toMatchObject({
      limit: 3,
      resetAtMs,
      retryAfterMs: resetAtMs - NOW_MS,
      policy: 'api',
    })
    expect(rateLimitHeaders(decisions[3]!, ['draft-8'])).toEqual({
      'RateLimit-Policy': '"api";q=3;w=60',
      RateLimit: `"api";r=0;t=${Math.ceil((resetAtMs - NOW_MS) / 1000)}`,
      'Retry-After': String(Math.ceil((resetAtMs - NOW_MS) / 1000)),
    })
    expect(await limiter.peek('client')).toMatchObject({ allowed: false, remaining: 0 })
    await limiter.reset('client')
    expect((await limiter.limit('client')).reason).toBe('allowed')
  })

  it("answers an identifier on Ratelimit's deny list as limited with no time to retry, from Redis and from its cache", async () => {
    const prefix = `deny-${RUN}`
    await redis.set(`${prefix}:ipDenyListStatus`, 'disabled')
    await redis.sadd(`${prefix}:denyList:all`, 'bad-user')
    const limiter = fromUpstash(
      new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(5, '60 s'), prefix, enableProtection: true }),
      { window: '60 s', name: 'api' },
    )
    // The first denial is Ratelimit's check in Redis; the next comes from its in-process cache,
    // which answers limit 0 and reset 0: the quota shown is the one Ratelimit gave last, and it
    // resets with the window, as the first said (never "now", which tells a client to come back).
    const decisions = [await limiter.limit('bad-user'), await limiter.limit('bad-user')]
    const windowEnd = (nowMs: number) => (Math.floor(nowMs / 60_000) + 1) * 60_000
    expect(decisions.map((d) => d.resetAtMs)).toEqual(decisions.map((d) => windowEnd(d.nowMs)))
    for (const decision of decisions) {
      expect(decision).toMatchObject({
        allowed: false,
        reason: 'limited',
        limit: 5,
        remaining: 0,
        retryAfterMs: Number.POSITIVE_INFINITY,
      })
      expect(decision.resetAtMs).toBeGreaterThanOrEqual(decision.nowMs)
      expect(rateLimitHeaders(decision, ['draft-8'])['Retry-After']).toBeUndefined()
    }
  })

  it("never gives a reset instant before now from a token bucket's getRemaining, which skips the refill", async () => {
    const limiter = fromUpstash(
      new Ratelimit({ redis, limiter: Ratelimit.tokenBucket(1, '1 s', 4), prefix: `tb-${RUN}` }),
      { window: '1 s' },
    )
    for (let i = 0; i < 4; i++) expect((await limiter.limit('u')).reason).toBe('allowed')
    vi.setSystemTime(NOW_MS + 2_500)
    const peeked = await limiter.peek('u')
    expect(peeked.resetAtMs).toBeGreaterThanOrEqual(peeked.nowMs)
    expect(peeked.policies[0]!.resetAtMs).toBeGreaterThanOrEqual(peeked.nowMs)
  })

  it("refuses a reset that Ratelimit's pattern would carry past the identifier", async () => {
    const own = fixedWindowOf(5, 'own')
    for (const id of ['dynamic', 'denyList', 'events', 'events:x', 'ipDenyListStatus']) {
      await expect(own.reset(id)).rejects.toMatchObject({ code: 'ERR_FLOODGATE_STORE_ERROR' })
    }
    await expect(own.reset('dynamics')).resolves.toBeUndefined()
    const globbed = fromUpstash(
      new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(5, '60 s'), prefix: `x*-${RUN}` }),
      { window: '60 s' },
    )
    await expect(globbed.reset('u')).rejects.toMatchObject({ code: 'ERR_FLOODGATE_STORE_ERROR' })
  })

  it("keeps the identifier out of a failure's message, which @upstash/redis quotes with its command", async () => {
    const wrongToken = upstashTestClient({ url: upstash.url, token: 'wrong' })
    const warnings: string[] = []
    const limiter = fromUpstash(
      new Ratelimit({ redis: wrongToken, limiter: Ratelimit.fixedWindow(5, '60 s'), prefix: `leak-${RUN}` }),
      { window: '60 s', logger: { warn: (line) => warnings.push(line) } },
    )
    const decision = await limiter.limit('apikey:sk_live_secret')
    expect(decision.reason).toBe('store-error')
    expect(decision.error?.message).toMatch(
      /^The Upstash Ratelimit failed: Unauthorized\. \(ERR_FLOODGATE_STORE_ERROR/,
    )
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).not.toContain('sk_live_secret')
  })

  it('peek() answers what limit() would, without charging: remaining after the request', async () => {
    const limiter = fixedWindowOf(5, 'fu-peek')
    const seen: unknown[] = []
    // No partial denial here: Ratelimit's limit() counts a denied cost (docs/stores.md), peek cannot.
    for (const cost of [1, 2, 1, 1, 1]) {
      const peeked = await limiter.peek('client', { cost })
      const decided = await limiter.limit('client', { cost })
      const pick = (d: typeof decided) => [d.allowed, d.reason, d.remaining]
      expect(pick(peeked)).toEqual(pick(decided))
      seen.push(pick(decided))
    }
    expect(seen).toEqual([
      [true, 'allowed', 4],
      [true, 'allowed', 2],
      [true, 'allowed', 1],
      [true, 'allowed', 0],
      [false, 'limited', 0],
    ])
  })

  it('denies a cost above the limit as cost-exceeds-limit, with no time to retry at', async () => {
    const limiter = fixedWindowOf(2, 'fu-cost')
    const d = await limiter.limit('big', { cost: 5 })
    expect(d).toMatchObject({
      allowed: false,
      reason: 'cost-exceeds-limit',
      retryAfterMs: Number.POSITIVE_INFINITY,
    })
    expect(rateLimitHeaders(d, ['draft-8'])['Retry-After']).toBeUndefined()
  })

  it('reset() lifts the block Ratelimit caches in process, for an identifier with glob characters too', async () => {
    // ephemeralCache is on by default: a denied identifier is answered from memory until its reset.
    const limiter = fixedWindowOf(1, 'fu-glob')
    for (const id of ['plain', 'x*', 'a?[b]\\']) {
      expect((await limiter.limit(id)).allowed).toBe(true)
      expect((await limiter.limit(id)).allowed).toBe(false)
      await limiter.reset(id)
      expect((await limiter.limit(id)).allowed).toBe(true)
    }
  })

  it("hands the Ratelimit's pending work of each call to waitUntil, before the decision", async () => {
    const handed: Promise<unknown>[] = []
    const limiter = fromUpstash(
      new Ratelimit({
        redis,
        limiter: Ratelimit.fixedWindow(5, '60 s'),
        prefix: `fu-pending-${RUN}`,
        analytics: true,
      }),
      { window: '60 s', waitUntil: (pending) => void handed.push(pending) },
    )
    for (const id of ['a', 'b']) {
      const before = handed.length
      expect((await limiter.limit(id)).allowed).toBe(true)
      expect(handed).toHaveLength(before + 1)
    }
    await expect(Promise.all(handed)).resolves.toBeDefined()
    // Pending work that is a thenable, not a promise, is handed on as a promise, its failure caught.
    const thenable = {
      // biome-ignore lint/suspicious/noThenProperty: a thenable that is not a native Promise, on purpose
      then: (_resolve: unknown, reject: (error: unknown) => void) => reject(new Error('analytics lost')),
    }
    const settles: Promise<unknown>[] = []
    const fake = fromUpstash(
      {
        limit: async () => ({
          success: true,
          limit: 5,
          remaining: 4,
          reset: NOW_MS + 30_000,
          pending: thenable as never,
        }),
        getRemaining: async () => ({ remaining: 5, reset: NOW_MS + 30_000 }),
        resetUsedTokens: async () => undefined,
      },
      { window: '60 s', logger: false, waitUntil: (pending) => void settles.push(pending) },
    )
    expect(await fake.limit('c')).toMatchObject({ allowed: true, reason: 'allowed' })
    expect(settles).toHaveLength(1)
    expect(settles[0]).toBeInstanceOf(Promise)
    await expect(settles[0]).resolves.toBeUndefined()
    expect(() =>
      fromUpstash({ limit: async () => ({}) } as never, { window: '1 m', waitUntil: 5 as never }),
    ).toThrow(/fromUpstash\.waitUntil/)
  })

  it('keeps peek, reset and close on a copy made by spreading it, and when passed on alone', async () => {
    const limiter = fixedWindowOf(1, 'fu-spread')
    const wrapped = { ...limiter, limit: (id: string) => limiter.limit(id) }
    expect((await wrapped.limit('a')).allowed).toBe(true)
    expect((await wrapped.peek('a')).allowed).toBe(false)
    const { reset, close } = wrapped
    await reset('a')
    expect((await limiter.limit('a')).allowed).toBe(true)
    await close()
    await expect(limiter.limit('a')).rejects.toMatchObject({ code: 'ERR_FLOODGATE_CLOSED' })
  })

  it('does not answer a limit() made while a reset of a glob-character identifier runs from the cached block', async () => {
    const limiter = fixedWindowOf(1, 'fu-glob-race')
    for (const id of ['plain', 'x*', '[ab]']) {
      await limiter.limit(id)
      expect((await limiter.limit(id)).reason).toBe('limited') // blocked in Ratelimit's cache now
      const reset = limiter.reset(id)
      const next = limiter.limit(id) // made after the reset: it counts on fresh counters
      await reset
      expect({ id, reason: (await next).reason }).toEqual({ id, reason: 'allowed' })
    }
  })

  it("resets a cachedFixedWindow's count cached in process, for an identifier with glob characters too", async () => {
    const limiter = fromUpstash(
      new Ratelimit({ redis, limiter: Ratelimit.cachedFixedWindow(1, '60 s'), prefix: `fu-cached-${RUN}` }),
      { window: '60 s' },
    )
    for (const id of ['plain', 'x*']) {
      await limiter.limit(id)
      expect((await limiter.limit(id)).reason).toBe('limited')
      await limiter.reset(id)
      expect({ id, after: (await limiter.limit(id)).reason }).toEqual({ id, after: 'allowed' })
    }
  })

  // DESIGN §2: reset clears exactly that identifier. Ratelimit's resetUsedTokens deletes by the
  // SCAN pattern `prefix:id:*` (`prefix:id` for a token bucket): the counts of `a:b` and `a:1`
  // went with `a`'s.
  for (const [algorithm, algo] of Object.entries({
    fixedWindow: Ratelimit.fixedWindow(5, '60 s'),
    slidingWindow: Ratelimit.slidingWindow(5, '60 s'),
    tokenBucket: Ratelimit.tokenBucket(1, '60 s', 5),
    cachedFixedWindow: Ratelimit.cachedFixedWindow(5, '60 s'),
  })) {
    it(`resets exactly the identifier, never one that starts with it or with \`id:\`, in one request (${algorithm})`, async () => {
      const used = { a: 3, 'a:b': 2, 'a:1': 1, ab: 3 }
      const prefix = `exact-${algorithm}-${RUN}`
      const pending: Promise<unknown>[] = []
      const limiter = fromUpstash(new Ratelimit({ redis, limiter: algo, prefix }), {
        window: '60 s',
        timeout: '5 s',
        waitUntil: (work) => pending.push(work),
      })
      for (const [id, n] of Object.entries(used)) for (let i = 0; i < n; i++) await limiter.limit(id)
      await Promise.all(pending) // a cachedFixedWindow's increments, written behind its answers
      // What Upstash holds, read through a Ratelimit with nothing cached in process: a peek's
      // quota left after one more request.
      const stored = async () => {
        const fresh = fromUpstash(new Ratelimit({ redis, limiter: algo, prefix }), {
          window: '60 s',
          timeout: '5 s',
        })
        const left: Record<string, number> = {}
        for (const id of Object.keys(used)) left[id] = (await fresh.peek(id)).remaining
        return left
      }
      expect(await stored()).toEqual({ a: 1, 'a:b': 2, 'a:1': 3, ab: 1 })
      const requests = upstash.stats.requests
      await limiter.reset('a')
      const resetRequests = upstash.stats.requests - requests
      expect(await stored()).toEqual({ a: 4, 'a:b': 2, 'a:1': 3, ab: 1 })
      expect(resetRequests).toBe(1)
      expect((await limiter.limit('a')).remaining).toBe(4)
      // The identifier named by `a` and its window's number is not `a`.
      await limiter.reset(`a:${Math.floor(NOW_MS / 60_000)}`)
      expect((await limiter.peek('a')).remaining).toBe(3)
    })
  }

  it("resets a sliding window's previous window too, and only the identifier's", async () => {
    const algo = Ratelimit.slidingWindow(5, '60 s')
    const prefix = `exact-sliding-previous-${RUN}`
    const limiter = fromUpstash(new Ratelimit({ redis, limiter: algo, prefix }), {
      window: '60 s',
      timeout: '5 s',
    })
    vi.setSystemTime(NOW_MS - 60_000) // the window before
    for (let i = 0; i < 4; i++) for (const id of ['a', 'a:b']) await limiter.limit(id)
    vi.setSystemTime(NOW_MS) // half way through the next: half of those 4 still count
    const fresh = () => fromUpstash(new Ratelimit({ redis, limiter: algo, prefix }), { window: '60 s' })
    expect((await fresh().peek('a')).remaining).toBe(2)
    await limiter.reset('a')
    expect((await fresh().peek('a')).remaining).toBe(4)
    expect((await fresh().peek('a:b')).remaining).toBe(2)
  })

  it('resets exactly the identifier through every tier, one request per Ratelimit', async () => {
    const prefix = `exact-tiers-${RUN}`
    const free = new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(2, '60 s'), prefix })
    const pro = new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(5, '60 s'), prefix })
    const limiter = fromUpstash({ free, pro }, { defaultTier: 'free', window: '60 s', timeout: '5 s' })
    for (const id of ['a', 'a', 'a:b', 'a:b']) await limiter.limit(id, { tier: 'pro' })
    const requests = upstash.stats.requests
    await limiter.reset('a')
    expect(upstash.stats.requests - requests).toBe(2)
    expect((await limiter.peek('a', { tier: 'pro' })).remaining).toBe(4)
    expect((await limiter.peek('a:b', { tier: 'pro' })).remaining).toBe(2)
  })

  it('forgets a block cached by a denial whose answer came after the reset', async () => {
    const limiter = fixedWindowOf(2, 'fu-late-denial')
    await denialAnsweredAfterReset(limiter)
    expect((await limiter.peek('u')).allowed).toBe(true)
    expect((await limiter.limit('u')).reason).toBe('allowed')
  })

  it('forgets a block cached by a denial sent while a reset ran and answered after it', async () => {
    const limiter = fixedWindowOf(2, 'fu-during-reset')
    const realFetch = globalThis.fetch
    /** What the next fetch does, given the request to send. */
    const plans: ((send: () => Promise<Response>) => Promise<Response>)[] = []
    globalThis.fetch = ((...args: Parameters<typeof fetch>) => {
      const plan = plans.shift()
      return plan === undefined ? realFetch(...args) : plan(() => realFetch(...args))
    }) as typeof fetch
    const gate = () => {
      let open = () => {}
      const opened = new Promise<void>((resolve) => (open = resolve))
      return { open, opened }
    }
    try {
      await limiter.limit('u')
      await limiter.limit('u')
      // The reset's first request waits before it is sent...
      const resetSent = gate()
      const resetWaits = gate()
      plans.push(async (send) => {
        resetWaits.open()
        await resetSent.opened
        return send()
      })
      const reset = limiter.reset('u')
      await resetWaits.opened
      // ...while a limit() made after it reaches Redis first (denied), its answer held on the way.
      const limitAnswered = gate()
      const limitArrived = gate()
      plans.push(async (send) => {
        const response = await send()
        limitArrived.open()
        await limitAnswered.opened
        return response
      })
      const late = limiter.limit('u')
      await limitArrived.opened
      resetSent.open()
      await reset
      limitAnswered.open()
      await late
      expect((await limiter.limit('u')).reason).toBe('allowed')
    } finally {
      globalThis.fetch = realFetch
    }
  })

  it("logs no recovery for an answer from Ratelimit's own cache while Upstash is down", async () => {
    const lines: string[] = []
    const limiter = fromUpstash(
      new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(1, '60 s'), prefix: `fu-cache-${RUN}` }),
      { window: '60 s', logger: { warn: (line) => lines.push(line) } },
    )
    const realFetch = globalThis.fetch
    try {
      await limiter.limit('abuser')
      expect((await limiter.limit('abuser')).reason).toBe('limited') // blocked in Ratelimit's cache now
      globalThis.fetch = (async () => {
        throw new TypeError('fetch failed')
      }) as typeof fetch
      expect((await limiter.limit('someone')).reason).toBe('store-error')
      expect((await limiter.limit('abuser')).reason).toBe('limited') // from the cache, Upstash still down
      expect(lines.map((line) => /WARN_FLOODGATE_STORE_\w+/.exec(line)?.[0])).toEqual([
        'WARN_FLOODGATE_STORE_FAILURE',
      ])
      globalThis.fetch = realFetch
      expect((await limiter.limit('someone')).reason).toBe('allowed')
      expect(lines[1]).toMatch(
        /^\[floodgate\] WARN_FLOODGATE_STORE_RECOVERED: The Upstash Ratelimit answers the Ratelimit with prefix "fu-cache-/,
      )
    } finally {
      globalThis.fetch = realFetch
    }
  })

  it("reports a cachedFixedWindow's increments lost while Upstash is down, and logs no recovery for its cached answers", async () => {
    const lines: string[] = []
    const failures: unknown[] = []
    const limiter = fromUpstash(
      new Ratelimit({ redis, limiter: Ratelimit.cachedFixedWindow(2, '60 s'), prefix: `fu-cfw-${RUN}` }),
      {
        window: '60 s',
        logger: { warn: (line) => lines.push(line) },
        onStoreFailure: (error) => void failures.push(error),
        waitUntil: (work) => void pending.push(work),
      },
    )
    const codes = () => codesOf(lines)
    // Each call's work after its answer (the increment over HTTP), as a platform's waitUntil gets it.
    const pending: Promise<unknown>[] = []
    const settle = () => Promise.all(pending.splice(0))
    expect((await limiter.limit('user')).remaining).toBe(1) // from Redis, counted in process too
    upstashDown()
    // Answered from Ratelimit's in-process count; its increment to Redis fails behind it.
    expect((await limiter.limit('user')).reason).toBe('allowed')
    await settle()
    expect(failures).toHaveLength(1)
    expect(codes()).toEqual(['WARN_FLOODGATE_STORE_FAILURE'])
    expect(lines[0]).toContain('Work done after the Ratelimit with prefix')
    expect(lines[0]).toContain('the decision itself was given')
    // An identifier it has not counted (Upstash asked), then a denial from the in-process count:
    // no answer of Upstash's, so no recovery.
    expect((await limiter.limit('newcomer')).reason).toBe('store-error')
    expect((await limiter.limit('user')).reason).toBe('limited')
    await settle()
    expect(codes()).toEqual(['WARN_FLOODGATE_STORE_FAILURE', 'WARN_FLOODGATE_STORE_FAILURE'])
    upstashUp()
    expect((await limiter.limit('newcomer')).reason).toBe('allowed')
    await settle()
    expect(codes()).toEqual([
      'WARN_FLOODGATE_STORE_FAILURE',
      'WARN_FLOODGATE_STORE_FAILURE',
      'WARN_FLOODGATE_STORE_RECOVERED',
    ])
    expect(lines[2]).toMatch(/ 1 request got no decision from it: 1 allowed uncounted\.$/)
    // A second outage, met only by an identifier counted in process: its lost increment is
    // logged at once again, the recovery line having ended the first.
    upstashDown()
    expect((await limiter.limit('newcomer')).reason).toBe('allowed')
    await settle()
    expect(codes()).toHaveLength(4)
    expect(lines[3]).toContain('Work done after the Ratelimit with prefix')
  })

  it("logs outages a cachedFixedWindow's counted identifiers alone meet, and the recovery between them", async () => {
    const lines: string[] = []
    const limiter = fromUpstash(
      new Ratelimit({
        redis,
        limiter: Ratelimit.cachedFixedWindow(100, '60 s'),
        prefix: `fu-cfw-only-${RUN}`,
      }),
      {
        window: '60 s',
        logger: { warn: (line) => lines.push(line) },
        waitUntil: (work) => void pending.push(work),
      },
    )
    const codes = () => codesOf(lines)
    const pending: Promise<unknown>[] = []
    const settle = () => Promise.all(pending.splice(0))
    await limiter.limit('known') // counted in process from here on
    upstashDown()
    expect((await limiter.limit('known')).reason).toBe('allowed') // its increment fails behind it
    await settle()
    vi.advanceTimersByTime(5_000)
    upstashUp()
    expect((await limiter.limit('known')).reason).toBe('allowed') // its increment is written
    await settle()
    expect(codes()).toEqual(['WARN_FLOODGATE_STORE_FAILURE', 'WARN_FLOODGATE_STORE_RECOVERED'])
    expect(lines[1]).toContain(
      'Since its failures began 5.0 s ago, every request got a decision; only work done after some of them failed.',
    )
    // The second outage is logged at once (its recovery line waits for the minute).
    upstashDown()
    expect((await limiter.limit('known')).reason).toBe('allowed')
    await settle()
    expect(codes()).toEqual([
      'WARN_FLOODGATE_STORE_FAILURE',
      'WARN_FLOODGATE_STORE_RECOVERED',
      'WARN_FLOODGATE_STORE_FAILURE',
    ])
  })

  it("logs and reports a failure of other work after an answer (the IP deny list's refresh), opening no outage", async () => {
    const lines: string[] = []
    const failures: unknown[] = []
    // Ratelimit's answers from Upstash; its deny list's refresh from GitHub, behind the first, fails.
    let calls = 0
    const refreshing = {
      limit: async () => ({
        success: true,
        limit: 5,
        remaining: 4,
        reset: NOW_MS + 30_000,
        pending:
          calls++ === 0
            ? Promise.reject(new Error('Failed to fetch ip deny list: getaddrinfo ENOTFOUND'))
            : Promise.resolve(),
      }),
      getRemaining: async () => ({ remaining: 5, reset: NOW_MS + 30_000, limit: 5 }),
    }
    const limiter = fromUpstash(refreshing as never, {
      window: '1 m',
      logger: { warn: (line) => lines.push(line) },
      onStoreFailure: (error) => void failures.push(error),
    })
    for (let i = 0; i < 3; i++) {
      expect((await limiter.limit('someone')).reason).toBe('allowed')
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(failures).toHaveLength(1)
    // Upstash answered throughout: one failure line, no recovery line after it.
    expect(lines.map((line) => /WARN_FLOODGATE_STORE_\w+/.exec(line)?.[0])).toEqual([
      'WARN_FLOODGATE_STORE_FAILURE',
    ])
    // It names the Ratelimit and its policy, and says the decision stood.
    expect(lines[0]).toMatch(
      / Work done after the Ratelimit \(policy "upstash"\) had answered failed \(analytics, a cached window's count, the IP deny list's refresh or a region's sync\); the decision itself was given\.$/,
    )
  })

  it('logs a failure of work after an answer again exactly a minute after its last line', async () => {
    const lines: string[] = []
    // Every answer's deny list refresh fails.
    const refreshing = {
      limit: async () => ({
        success: true,
        limit: 5,
        remaining: 4,
        reset: Date.now() + 30_000,
        pending: Promise.reject(new Error('Failed to fetch ip deny list: getaddrinfo ENOTFOUND')),
      }),
      getRemaining: async () => ({ remaining: 5, reset: Date.now() + 30_000, limit: 5 }),
    }
    const limiter = fromUpstash(refreshing as never, {
      window: '1 m',
      logger: { warn: (line) => lines.push(line) },
    })
    const answered = async () => {
      expect((await limiter.limit('someone')).reason).toBe('allowed')
      await new Promise((resolve) => setImmediate(resolve))
    }
    await answered()
    vi.advanceTimersByTime(59_999)
    await answered()
    expect(codesOf(lines)).toEqual(['WARN_FLOODGATE_STORE_FAILURE'])
    vi.advanceTimersByTime(1)
    await answered()
    expect(codesOf(lines)).toEqual(['WARN_FLOODGATE_STORE_FAILURE', 'WARN_FLOODGATE_STORE_FAILURE'])
  })

  it('logs the recovery at a denial from Upstash too, so that a second outage is logged again', async () => {
    const lines: string[] = []
    const limiter = fromUpstash(
      new Ratelimit({
        redis,
        limiter: Ratelimit.fixedWindow(1, '60 s'),
        prefix: `fu-denied-${RUN}`,
        ephemeralCache: false,
      }),
      { window: '60 s', logger: { warn: (line) => lines.push(line) } },
    )
    const codes = () => codesOf(lines)
    await limiter.limit('over')
    upstashDown()
    expect((await limiter.limit('over')).reason).toBe('store-error')
    upstashUp()
    expect((await limiter.limit('over')).reason).toBe('limited') // Upstash's denial: it answers
    await new Promise((resolve) => setImmediate(resolve))
    upstashDown()
    expect((await limiter.limit('over')).reason).toBe('store-error')
    expect(codes()).toEqual([
      'WARN_FLOODGATE_STORE_FAILURE',
      'WARN_FLOODGATE_STORE_RECOVERED',
      'WARN_FLOODGATE_STORE_FAILURE',
    ])
  })

  it('logs the recovery at an answer in time to a call begun after the last failure, not at a late one', async () => {
    vi.useFakeTimers({
      toFake: ['Date', 'setTimeout', 'clearTimeout', 'setImmediate', 'performance'],
      now: NOW_MS,
    })
    const lines: string[] = []
    const codes = () => lines.map((line) => /WARN_FLOODGATE_STORE_\w+/.exec(line)?.[0])
    // How long each call's answer takes, in the order the calls are made.
    const delays = [60, 100, 17, 1]
    let call = 0
    const ratelimit = {
      limit: () => {
        const delay = delays[call++]!
        return new Promise((resolve) =>
          setTimeout(
            () =>
              resolve({
                success: true,
                limit: 5,
                remaining: 4,
                reset: NOW_MS + 30_000,
                pending: Promise.resolve(),
              }),
            delay,
          ),
        )
      },
      getRemaining: async () => ({ remaining: 5, reset: NOW_MS + 30_000, limit: 5 }),
    }
    const limiter = fromUpstash(ratelimit as never, {
      window: '1 m',
      timeout: 20,
      logger: { warn: (line) => lines.push(line) },
    })
    const late = limiter.limit('a')
    await vi.advanceTimersByTimeAsync(20)
    expect((await late).reason).toBe('store-error')
    await vi.advanceTimersByTimeAsync(60) // its answer, after the deadline
    expect(codes()).toEqual(['WARN_FLOODGATE_STORE_FAILURE'])
    // One call fails while another, begun before that failure, is answered in time after it.
    const failing = limiter.limit('b')
    await vi.advanceTimersByTimeAsync(5)
    const overlapping = limiter.limit('c')
    await vi.advanceTimersByTimeAsync(20)
    expect((await failing).reason).toBe('store-error')
    expect((await overlapping).reason).toBe('allowed')
    expect(codes()).toEqual(['WARN_FLOODGATE_STORE_FAILURE'])
    const next = limiter.limit('d')
    await vi.advanceTimersByTimeAsync(1)
    expect((await next).reason).toBe('allowed')
    expect(codes()).toEqual(['WARN_FLOODGATE_STORE_FAILURE', 'WARN_FLOODGATE_STORE_RECOVERED'])
  })

  it("takes a token bucket's tokens above a lowered limit as the limit, not as a failure", async () => {
    const prefix = `fu-lowered-${RUN}`
    const before = fromUpstash(
      new Ratelimit({ redis, limiter: Ratelimit.tokenBucket(1, '1 h', 100), prefix }),
      {
        window: '1 h',
      },
    )
    expect((await before.limit('user')).remaining).toBe(99)
    // Redeployed with a smaller bucket: Ratelimit keeps the stored tokens until its next refill.
    const after = fromUpstash(
      new Ratelimit({ redis, limiter: Ratelimit.tokenBucket(1, '1 h', 10), prefix }),
      {
        window: '1 h',
        onStoreError: 'deny',
        logger: false,
      },
    )
    expect(await after.limit('user')).toMatchObject({
      allowed: true,
      reason: 'allowed',
      limit: 10,
      remaining: 10,
    })
  })

  it('forgets a block cached while the reset was on its way, once the reset is done', async () => {
    // The reset's HTTP request is held on its way until a later limit(), which overtakes it, was
    // denied and cached a block in Ratelimit; that block must not outlive the reset.
    const limiter = fixedWindowOf(1, 'fu-overtaken')
    const fetches = holdingFetch()
    try {
      for (const id of ['plain', 'x*']) {
        await limiter.limit(id)
        expect((await limiter.limit(id)).reason).toBe('limited')
        const { started, release } = fetches.holdNext()
        const reset = limiter.reset(id)
        await started
        expect((await limiter.limit(id)).reason).toBe('limited') // reached Redis before the reset
        release()
        await reset
        expect({ id, after: (await limiter.limit(id)).reason }).toEqual({ id, after: 'allowed' })
      }
    } finally {
      fetches.restore()
    }
  })

  it('forgets a block that a call through another limiter of the same Ratelimit cached while the reset ran', async () => {
    // One Ratelimit, two fromUpstash limiters (an API's and an admin route's that resets): the
    // API's denial while the admin's reset is on its way caches a block the reset must not leave.
    const ratelimit = new Ratelimit({
      redis,
      limiter: Ratelimit.fixedWindow(1, '60 s'),
      prefix: `fu-shared-${RUN}`,
    })
    const api = fromUpstash(ratelimit, { window: '60 s', timeout: '5 s' })
    const admin = fromUpstash(ratelimit, { window: '60 s', timeout: '5 s' })
    const fetches = holdingFetch()
    try {
      expect((await api.limit('u')).reason).toBe('allowed')
      const { started, release } = fetches.holdNext()
      const reset = admin.reset('u')
      await started
      expect((await api.limit('u')).reason).toBe('limited') // reached Redis before the reset
      release()
      await reset
      expect((await api.limit('u')).reason).toBe('allowed')
    } finally {
      fetches.restore()
    }
  })

  it('refuses to reset a MultiRegionRatelimit, whose reset resolves before its regions are reset', async () => {
    const multi = new MultiRegionRatelimit({
      redis: [redis, upstashTestClient(upstash)],
      limiter: MultiRegionRatelimit.fixedWindow(3, '60 s'),
      prefix: `fu-multi-${RUN}`,
    })
    const limiter = fromUpstash(multi, { window: '60 s', logger: false })
    expect((await limiter.limit('client')).reason).toBe('allowed')
    await expect(limiter.reset('client')).rejects.toMatchObject({
      code: 'ERR_FLOODGATE_STORE_ERROR',
      message: expect.stringContaining('MultiRegionRatelimit'),
    })
  })

  it("leaves no failure of an answer's pending work unhandled when the answer comes after the deadline", async () => {
    vi.useRealTimers()
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      // A multi-region answer: one region answered after the deadline, and the sync with another failed.
      const answer = () => ({
        success: true,
        limit: 5,
        remaining: 4,
        reset: 0,
        pending: Promise.reject(new Error('region 2 answered 500')),
      })
      const late = {
        limit: () => new Promise((resolve) => setTimeout(() => resolve(answer()), 100)),
      } as unknown as Ratelimit
      const limiter = fromUpstash(late, { window: '1 m', timeout: 20, logger: false })
      const decision = limiter.limit('client')
      await vi.advanceTimersByTimeAsync(20)
      expect((await decision).reason).toBe('store-error')
      await vi.advanceTimersByTimeAsync(100)
      // A `pending` that is not a promise (a JavaScript caller's, a mock's) is left alone.
      // Nor is it handed to waitUntil: there is no work to wait for.
      const handed: unknown[] = []
      for (const pending of [{}, 42, null, undefined]) {
        const odd = {
          limit: async () => ({ success: true, limit: 5, remaining: 4, reset: 0, pending }),
        } as unknown as Ratelimit
        const oddLimiter = fromUpstash(odd, {
          window: '1 m',
          timeout: 20,
          logger: false,
          waitUntil: (work) => void handed.push(work),
        })
        expect((await oddLimiter.limit('client')).reason).toBe('allowed')
      }
      expect(handed).toEqual([])
      // Node reports an unhandled rejection once the microtasks after the answer have run.
      await new Promise((resolve) => setImmediate(resolve))
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('bounds reset() by its timeout too, as every store call', async () => {
    vi.useRealTimers()
    const never = () => new Promise<never>(() => undefined)
    const hanging = { limit: never, getRemaining: never, resetUsedTokens: never } as unknown as Ratelimit
    const limiter = fromUpstash(hanging, { window: '1 m', timeout: 20, logger: false })
    await expect(limiter.reset('a')).rejects.toMatchObject({ code: 'ERR_FLOODGATE_STORE_TIMEOUT' })
    // peek() and limit() too: a store failure, under onStoreError.
    for (const decision of [await limiter.peek('a'), await limiter.limit('a')]) {
      expect(decision).toMatchObject({ allowed: true, reason: 'store-error' })
      expect(decision.error).toMatchObject({ code: 'ERR_FLOODGATE_STORE_TIMEOUT' })
    }
  })

  it("bounds and reports a reset sent through the Ratelimit's own client as any other", async () => {
    vi.useRealTimers()
    const hanging = new Ratelimit({
      redis: upstashTestClient({ url: blackHoleUrl, token: 'x' }),
      limiter: Ratelimit.fixedWindow(5, '60 s'),
      prefix: `reset-hang-${RUN}`,
    })
    const bounded = fromUpstash(hanging, { window: '60 s', timeout: 20, logger: false })
    await expect(bounded.reset('a')).rejects.toMatchObject({ code: 'ERR_FLOODGATE_STORE_TIMEOUT' })
    const failures: unknown[] = []
    const unauthorized = fromUpstash(
      new Ratelimit({
        redis: upstashTestClient({ url: upstash.url, token: 'wrong' }),
        limiter: Ratelimit.fixedWindow(5, '60 s'),
        prefix: `reset-fail-${RUN}`,
      }),
      { window: '60 s', logger: false, onStoreFailure: (e) => failures.push(e) },
    )
    const error = await unauthorized.reset('a').then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toMatchObject({ code: 'ERR_FLOODGATE_STORE_ERROR' })
    expect(failures).toEqual([error])
  })

  it("rejects a failed reset() with a store error, and reports it, as a decision's failure is", async () => {
    const refused = new Error('NOPERM this user has no permissions to run the "eval" command')
    const reject = () => Promise.reject(refused)
    const failing = { limit: reject, getRemaining: reject, resetUsedTokens: reject } as unknown as Ratelimit
    const failures: unknown[] = []
    const limiter = fromUpstash(failing, {
      window: '1 m',
      logger: false,
      onStoreFailure: (e) => failures.push(e),
    })
    const error = await limiter.reset('a').then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toMatchObject({ code: 'ERR_FLOODGATE_STORE_ERROR', cause: refused })
    expect(failures).toEqual([error])
  })

  it('logs its failures through its logger, one code silenced at a time', async () => {
    const reject = () => Promise.reject(new Error('connection refused'))
    const failing = { limit: reject, getRemaining: reject, resetUsedTokens: reject } as unknown as Ratelimit
    for (const silenceWarnings of [[], ['WARN_FLOODGATE_STORE_FAILURE' as const]]) {
      const lines: string[] = []
      const limiter = fromUpstash(failing, {
        window: '1 m',
        silenceWarnings,
        logger: { warn: (l) => lines.push(l) },
      })
      expect((await limiter.limit('a')).reason).toBe('store-error')
      expect(lines).toHaveLength(silenceWarnings.length === 0 ? 1 : 0)
      if (lines.length > 0) expect(lines[0]).toMatch(/until the store answers again, which will be logged\.$/)
    }
  })

  it('reads its timeout answer as a store error with no headers, never as "blocked"', async () => {
    const hanging = upstashTestClient({ url: blackHoleUrl, token: 't' })
    const ratelimit = new Ratelimit({
      redis: hanging,
      limiter: Ratelimit.fixedWindow(3, '60 s'),
      timeout: 50,
    })
    for (const onStoreError of ['allow', 'deny'] as const) {
      const failures: unknown[] = []
      const limiter = fromUpstash(ratelimit, {
        window: '60 s',
        timeout: '5 s',
        onStoreError,
        logger: false,
        onStoreFailure: (e) => failures.push(e),
      })
      const d = await limiter.limit('client')
      expect(d).toMatchObject({ reason: 'store-error', allowed: onStoreError === 'allow', policies: [] })
      expect(rateLimitHeaders(d, ['draft-8', 'legacy'])).toEqual({})
      expect(failures.length === 1 && isFloodgateError(failures[0], 'ERR_FLOODGATE_STORE_TIMEOUT')).toBe(true)
    }
  })

  it('answers a first denial from the deny list cache with the quota 0 and the default policy name', async () => {
    // Ratelimit's in-process cache answers its deny list with limit 0 and reset 0 (or a reset that
    // is not after now): before any answer from Redis there is no quota to show but 0, and the
    // quota resets with the window.
    for (const reset of [0, NOW_MS]) {
      const cached = {
        limit: async () => ({ success: false, limit: 0, remaining: 0, reset, reason: 'denyList' }),
        getRemaining: async () => ({ remaining: 0, reset: 0 }),
        resetUsedTokens: async () => undefined,
      }
      const decision = await fromUpstash(cached, { window: '60 s', logger: false }).limit('bad-user')
      expect({ reset, decision }).toMatchObject({
        reset,
        decision: {
          allowed: false,
          reason: 'limited',
          limit: 0,
          remaining: 0,
          resetAtMs: (Math.floor(NOW_MS / 60_000) + 1) * 60_000,
          retryAfterMs: Number.POSITIVE_INFINITY,
          policy: 'upstash',
        },
      })
    }
    // After an answer from Redis, the quota shown is the one it gave, a quota of 1 included.
    const answers = [
      { success: true, limit: 1, remaining: 0, reset: NOW_MS + 30_000 },
      { success: false, limit: 0, remaining: 0, reset: 0, reason: 'denyList' },
    ]
    const sequence = {
      limit: async () => answers.shift()!,
      getRemaining: async () => ({ remaining: 0, reset: 0 }),
      resetUsedTokens: async () => undefined,
    }
    const limiter = fromUpstash(sequence, { window: '60 s', logger: false })
    expect((await limiter.limit('bad-user')).reason).toBe('allowed')
    expect(await limiter.limit('bad-user')).toMatchObject({ reason: 'limited', limit: 1, remaining: 0 })
  })

  it("logs no recovery at an answer, or a cached count's increment, given after a failure met while it ran", async () => {
    /** A promise settled from outside. */
    const deferred = <T>() => {
      let resolve: (value: T) => void = () => {}
      let reject: (error: unknown) => void = () => {}
      const promise = new Promise<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
    const answer = (pending: Promise<unknown>) => ({
      success: true,
      limit: 5,
      remaining: 4,
      reset: NOW_MS + 30_000,
      pending,
    })
    // A cachedFixedWindow as fromUpstash reads it: `counted` is counted in process (answered at
    // once, its increment to Upstash settling later), `down` fails, the rest Upstash answers.
    const cachedWindow = (asked: Promise<unknown>, increment: Promise<unknown>) => ({
      prefix: 'fu-overlap',
      ctx: { cache: { get: (key: string) => (key.startsWith('fu-overlap:counted:') ? 1 : undefined) } },
      limit: async (id: string) => {
        if (id === 'counted') return answer(increment)
        if (id === 'down') throw new TypeError('fetch failed')
        await asked
        return answer(Promise.resolve())
      },
      getRemaining: async () => ({ remaining: 5, reset: NOW_MS + 30_000, limit: 5 }),
      resetUsedTokens: async () => undefined,
    })
    const options = (lines: string[]): Parameters<typeof fromUpstash>[1] => ({
      window: '60 s',
      timeout: '5 s',
      logger: { warn: (line: string) => lines.push(line) },
    })
    const tick = () => new Promise((resolve) => setImmediate(resolve))

    // An answer of Upstash's to a call begun before an increment failed.
    const lines: string[] = []
    const asked = deferred<void>()
    const increment = deferred<void>()
    const limiter = fromUpstash(cachedWindow(asked.promise, increment.promise), options(lines))
    const early = limiter.limit('asked')
    expect((await limiter.limit('counted')).reason).toBe('allowed')
    increment.reject(new TypeError('fetch failed'))
    await tick()
    asked.resolve()
    expect((await early).reason).toBe('allowed')
    await tick()
    expect(codesOf(lines)).toEqual(['WARN_FLOODGATE_STORE_FAILURE'])
    expect((await limiter.limit('asked')).reason).toBe('allowed') // begun after it: Upstash answers
    expect(codesOf(lines)).toEqual(['WARN_FLOODGATE_STORE_FAILURE', 'WARN_FLOODGATE_STORE_RECOVERED'])

    // An increment written after a call begun after it failed.
    const later: string[] = []
    const written = deferred<void>()
    const other = fromUpstash(cachedWindow(Promise.resolve(), written.promise), options(later))
    expect((await other.limit('counted')).reason).toBe('allowed')
    expect((await other.limit('down')).reason).toBe('store-error')
    written.resolve()
    await tick()
    expect(codesOf(later)).toEqual(['WARN_FLOODGATE_STORE_FAILURE'])
  })

  it("logs the recovery at a cached count's increment written by the deadline, not 1 ms after it", async () => {
    vi.useFakeTimers({
      toFake: ['Date', 'setTimeout', 'clearTimeout', 'setImmediate', 'performance'],
      now: NOW_MS,
    })
    for (const [writtenAfter, recovered] of [
      [20, true],
      [21, false],
    ] as const) {
      const lines: string[] = []
      // A cachedFixedWindow as fromUpstash reads it: `counted` is answered from its in-process
      // count, its increment to Upstash written `writtenAfter` ms later; `down` fails.
      const ratelimit = {
        prefix: 'fu-increment-deadline',
        ctx: {
          cache: {
            get: (key: string) => (key.startsWith('fu-increment-deadline:counted:') ? 1 : undefined),
          },
        },
        limit: async (id: string) => {
          if (id === 'down') throw new TypeError('fetch failed')
          return {
            success: true,
            limit: 5,
            remaining: 4,
            reset: NOW_MS + 30_000,
            pending: new Promise((resolve) => setTimeout(resolve, writtenAfter)),
          }
        },
        getRemaining: async () => ({ remaining: 5, reset: NOW_MS + 30_000, limit: 5 }),
        resetUsedTokens: async () => undefined,
      }
      const limiter = fromUpstash(ratelimit, {
        window: '1 m',
        timeout: 20,
        logger: { warn: (line) => lines.push(line) },
      })
      expect((await limiter.limit('down')).reason).toBe('store-error')
      expect((await limiter.limit('counted')).reason).toBe('allowed')
      await vi.advanceTimersByTimeAsync(writtenAfter)
      expect({ writtenAfter, codes: codesOf(lines) }).toEqual({
        writtenAfter,
        codes: recovered
          ? ['WARN_FLOODGATE_STORE_FAILURE', 'WARN_FLOODGATE_STORE_RECOVERED']
          : ['WARN_FLOODGATE_STORE_FAILURE'],
      })
    }
  })

  it('logs no recovery at its timeout answer to an identifier counted in process', async () => {
    // The window turned after fromUpstash looked (or the deny list's check was slow), and
    // Ratelimit's timeout answer (success true, pending work done) came instead of its count.
    const lines: string[] = []
    const ratelimit = {
      prefix: 'fu-counted-timeout',
      ctx: {
        cache: { get: (key: string) => (key.startsWith('fu-counted-timeout:counted:') ? 1 : undefined) },
      },
      limit: async (id: string) => {
        if (id === 'down') throw new TypeError('fetch failed')
        return {
          success: true,
          limit: 0,
          remaining: 0,
          reset: 0,
          reason: 'timeout',
          pending: Promise.resolve(),
        }
      },
      getRemaining: async () => ({ remaining: 5, reset: NOW_MS + 30_000, limit: 5 }),
      resetUsedTokens: async () => undefined,
    }
    const limiter = fromUpstash(ratelimit, { window: '1 m', logger: { warn: (line) => lines.push(line) } })
    expect((await limiter.limit('down')).reason).toBe('store-error')
    expect((await limiter.limit('counted')).reason).toBe('store-error')
    await new Promise((resolve) => setImmediate(resolve))
    expect(codesOf(lines)).not.toContain('WARN_FLOODGATE_STORE_RECOVERED')
  })

  it("logs the recovery at an answer to a call begun before other work after an answer failed (the IP deny list's refresh)", async () => {
    const lines: string[] = []
    let answer = () => {}
    const asked = new Promise<void>((resolve) => (answer = resolve))
    const ratelimit = {
      limit: async (id: string) => {
        if (id === 'down') throw new TypeError('fetch failed')
        // On the deny list, from Ratelimit's cache; the list's refresh from GitHub fails behind it.
        if (id === 'listed') {
          return {
            success: false,
            limit: 5,
            remaining: 0,
            reset: NOW_MS + 30_000,
            reason: 'denyList',
            pending: Promise.reject(new Error('Failed to fetch ip deny list: getaddrinfo ENOTFOUND')),
          }
        }
        await asked
        return { success: true, limit: 5, remaining: 4, reset: NOW_MS + 30_000, pending: Promise.resolve() }
      },
      getRemaining: async () => ({ remaining: 5, reset: NOW_MS + 30_000, limit: 5 }),
      resetUsedTokens: async () => undefined,
    }
    const limiter = fromUpstash(ratelimit, {
      window: '60 s',
      timeout: '5 s',
      logger: { warn: (line) => lines.push(line) },
    })
    expect((await limiter.limit('down')).reason).toBe('store-error')
    const asking = limiter.limit('someone') // begun after the failure: Upstash answers it in time
    expect((await limiter.limit('listed')).reason).toBe('limited')
    await new Promise((resolve) => setImmediate(resolve))
    answer()
    expect((await asking).reason).toBe('allowed')
    // The refresh's failure is no failure of Upstash's: the answer still tells the recovery.
    expect(codesOf(lines).at(-1)).toBe('WARN_FLOODGATE_STORE_RECOVERED')
  })

  it("keeps answering a blocked identifier from Ratelimit's cache after a reset of another one", async () => {
    const limiter = fixedWindowOf(1, 'fu-cache-after-reset')
    await limiter.limit('other')
    await limiter.reset('other')
    await limiter.limit('abuser')
    expect((await limiter.limit('abuser')).reason).toBe('limited') // blocked in Ratelimit's cache now
    upstashDown()
    expect((await limiter.limit('abuser')).reason).toBe('limited') // from the cache, Upstash down
  })

  it('takes the quota left for the quota when getRemaining gives none, and a past reset for now', async () => {
    const older = {
      limit: async () => ({ success: false, limit: 3, remaining: 0, reset: NOW_MS - 5_000 }),
      getRemaining: async () => ({ remaining: 3, reset: NOW_MS + 30_000 }),
      resetUsedTokens: async () => undefined,
    }
    const limiter = fromUpstash(older, { window: '60 s', logger: false })
    expect(await limiter.peek('u')).toMatchObject({
      allowed: true,
      reason: 'allowed',
      limit: 3,
      remaining: 2,
      resetAtMs: NOW_MS + 30_000,
    })
    // Never a reset instant before now, and a denial waits at least 1 ms.
    expect(await limiter.limit('u')).toMatchObject({
      allowed: false,
      reason: 'limited',
      resetAtMs: NOW_MS,
      retryAfterMs: 1,
    })
  })

  it("checks each call's cost and options, warns once of a tier, and checks Ratelimit's answers", async () => {
    const lines: string[] = []
    let answer: Record<string, unknown> = { success: false, limit: 0, remaining: 0, reset: NOW_MS + 30_000 }
    const ratelimit = {
      limit: async () => answer as never,
      getRemaining: async () => ({ remaining: 0, reset: NOW_MS + 30_000, limit: 0 }),
      resetUsedTokens: async () => undefined,
    }
    const limiter = fromUpstash(ratelimit, { window: '60 s', logger: { warn: (line) => lines.push(line) } })
    for (const cost of [0, -1, 1.5, '2', Number.NaN]) {
      await expect(limiter.limit('u', { cost: cost as never })).rejects.toMatchObject({
        code: 'ERR_FLOODGATE_INVALID_COST',
      })
      await expect(limiter.peek('u', { cost: cost as never })).rejects.toMatchObject({
        code: 'ERR_FLOODGATE_INVALID_COST',
      })
    }
    await expect(limiter.limit('u', { cots: 2 } as never)).rejects.toMatchObject({
      code: 'ERR_FLOODGATE_UNKNOWN_OPTION',
    })
    // No options, or null, is the default cost.
    expect(await limiter.limit('u', null as never)).toMatchObject({ reason: 'cost-exceeds-limit', cost: 1 })
    expect(lines).toEqual([])
    // A quota of 0 (a dynamic limit set so) is a quota no request fits, not a failure.
    expect(await limiter.limit('u', { tier: 'pro' })).toMatchObject({
      allowed: false,
      reason: 'cost-exceeds-limit',
      limit: 0,
    })
    expect(await limiter.limit('u', { tier: 'pro' })).toMatchObject({ reason: 'cost-exceeds-limit' })
    expect(lines).toHaveLength(1) // once
    expect(lines[0]).toMatch(
      /WARN_FLOODGATE_UNKNOWN_TIER: Tier "pro" was asked for, but a limiter made by fromUpstash has no tiers/,
    )
    // Each field out of range on its own makes an answer no decision.
    const fine = { success: true, limit: 5, remaining: 4, reset: NOW_MS + 30_000 }
    for (const bad of [
      { success: 1 },
      { limit: -1 },
      { limit: 2.5 },
      { remaining: 1.5 },
      { reset: -1 },
      { reset: NOW_MS + 0.5 },
    ]) {
      answer = { ...fine, ...bad }
      const decision = await limiter.limit('u')
      expect({ bad, reason: decision.reason }).toEqual({ bad, reason: 'store-error' })
    }
  })

  it('answers a failed or timed-out peek as a store failure, under onStoreError', async () => {
    const failing = {
      limit: async () => ({ success: true, limit: 3, remaining: 2, reset: NOW_MS + 30_000 }),
      getRemaining: async (): Promise<never> => {
        throw new TypeError('fetch failed')
      },
      resetUsedTokens: async () => undefined,
    }
    const allow = fromUpstash(failing, { window: '60 s', logger: false })
    expect(await allow.peek('u')).toMatchObject({ allowed: true, reason: 'store-error', cost: 1 })
    const deny = fromUpstash(failing, { window: '60 s', logger: false, onStoreError: 'deny' })
    expect(await deny.peek('u', { cost: 2 })).toMatchObject({
      allowed: false,
      reason: 'store-error',
      cost: 2,
    })
  })

  it("peek() leaves the quota left as it is when the cost does not fit, and a deny list's reset from Redis stands", async () => {
    const ratelimit = {
      limit: async () => ({
        success: false,
        limit: 5,
        remaining: 0,
        reset: NOW_MS + 5_000,
        reason: 'denyList',
      }),
      getRemaining: async () => ({ remaining: 2, reset: NOW_MS + 30_000, limit: 5 }),
      resetUsedTokens: async () => undefined,
    }
    const limiter = fromUpstash(ratelimit, { window: '60 s', logger: false })
    expect(await limiter.peek('u', { cost: 3 })).toMatchObject({
      allowed: false,
      reason: 'limited',
      limit: 5,
      remaining: 2,
      resetAtMs: NOW_MS + 30_000,
      retryAfterMs: 30_000,
    })
    // A reset Ratelimit gives from Redis is kept, not rounded to the window's end (NOW_MS + 30 s).
    expect(await limiter.limit('u')).toMatchObject({
      allowed: false,
      reason: 'limited',
      limit: 5,
      remaining: 0,
      resetAtMs: NOW_MS + 5_000,
      retryAfterMs: Number.POSITIVE_INFINITY,
    })
    // Ratelimit's count past the limit (remaining -2) is none left.
    const over = fromUpstash(
      {
        ...ratelimit,
        limit: async () => ({ success: false, limit: 5, remaining: -2, reset: NOW_MS + 5_000 }),
      },
      { window: '60 s', logger: false },
    )
    expect(await over.limit('u')).toMatchObject({
      reason: 'limited',
      limit: 5,
      remaining: 0,
      retryAfterMs: 5_000,
    })
  })

  it('gives each tier its own Ratelimit, keeps usage across a plan change, and the default tier to an unknown one', async () => {
    // DESIGN §2: Upstash users keep their Ratelimit and still get tiers. One prefix and one window:
    // Ratelimit keys a count by prefix, identifier and window, so a plan change keeps the usage.
    const prefix = `tiers-${RUN}`
    const free = new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(2, '60 s'), prefix })
    const pro = new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(5, '60 s'), prefix })
    const lines: string[] = []
    const limiter = fromUpstash(
      { free, pro },
      { defaultTier: 'free', window: '60 s', timeout: '5 s', logger: { warn: (line) => lines.push(line) } },
    )
    expect(limiter.config.defaultTier).toBe('free')
    const seen = (d: Decision) => [d.tier, d.allowed, d.limit, d.remaining, d.reason]
    const pro3 = []
    for (let i = 0; i < 3; i++) pro3.push(seen(await limiter.limit('u', { tier: 'pro' })))
    expect(pro3).toEqual([
      ['pro', true, 5, 4, 'allowed'],
      ['pro', true, 5, 3, 'allowed'],
      ['pro', true, 5, 2, 'allowed'],
    ])
    // Downgraded: the 3 used count against free's 2 at once, with the default tier for no tier.
    const downgraded = await limiter.limit('u')
    expect(seen(downgraded)).toEqual(['free', false, 2, 0, 'limited'])
    expect(downgraded.retryAfterMs).toBe(30_000)
    expect(rateLimitHeaders(downgraded, 'draft-8')).toMatchObject({ RateLimit: '"upstash";r=0;t=30' })
    // An unknown tier is never unlimited: free answers, and it is said once.
    expect(seen(await limiter.limit('u', { tier: 'gold' }))).toEqual(['free', false, 2, 0, 'limited'])
    await limiter.limit('u', { tier: 'gold' })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(
      /WARN_FLOODGATE_UNKNOWN_TIER: Tier "gold" is not configured \(tiers: free, pro\); the default tier "free" applies/,
    )
    // Upgraded again: the usage is still there (4: Ratelimit counted free's denial from Redis; its
    // in-process block answered gold's), and peek gives what a request would leave.
    expect(seen(await limiter.peek('u', { tier: 'pro' }))).toEqual(['pro', true, 5, 0, 'allowed'])
    expect(seen(await limiter.limit('u', { tier: 'pro' }))).toEqual(['pro', true, 5, 0, 'allowed'])
    expect(seen(await limiter.limit('u', { tier: 'pro' }))).toEqual(['pro', false, 5, 0, 'limited'])
    // A reset clears the identifier for every tier, the block each Ratelimit cached in process too.
    await limiter.reset('u')
    expect(seen(await limiter.limit('u', { tier: 'free' }))).toEqual(['free', true, 2, 1, 'allowed'])
    expect(seen(await limiter.limit('u', { tier: 'pro' }))).toEqual(['pro', true, 5, 3, 'allowed'])
    expect(seen(await limiter.limit('v', { tier: 'pro' }))).toEqual(['pro', true, 5, 4, 'allowed'])
  })

  it('takes one Ratelimit per tier only with a defaultTier among them, and a defaultTier only then', () => {
    const ratelimit = new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(3, '60 s') })
    const tiers = { free: ratelimit, pro: ratelimit }
    for (const defaultTier of [undefined, 'gold', 1]) {
      expect(() => fromUpstash(tiers, { window: '60 s', defaultTier: defaultTier as never })).toThrow(
        expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', option: 'fromUpstash.defaultTier' }),
      )
    }
    expect(() => fromUpstash(ratelimit, { window: '60 s', defaultTier: 'free' })).toThrow(
      expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', option: 'fromUpstash.defaultTier' }),
    )
    expect(() =>
      fromUpstash({ free: ratelimit, pro: {} } as never, { window: '60 s', defaultTier: 'free' }),
    ).toThrow(
      expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', option: 'fromUpstash(ratelimit).pro' }),
    )
    expect(() =>
      fromUpstash({ free: ratelimit, pro: null } as never, { window: '60 s', defaultTier: 'free' }),
    ).toThrow(
      expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', option: 'fromUpstash(ratelimit).pro' }),
    )
    expect(() => fromUpstash([ratelimit] as never, { window: '60 s' })).toThrow(
      expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', option: 'fromUpstash(ratelimit)' }),
    )
    const unset = new Ratelimit({
      redis: new UpstashRedis({ url: '', token: '' }),
      limiter: Ratelimit.fixedWindow(3, '60 s'),
    })
    // The error names the tier whose client lacks them.
    expect(() =>
      fromUpstash({ free: ratelimit, pro: unset }, { window: '60 s', defaultTier: 'free' }),
    ).toThrow(/`fromUpstash\(ratelimit\)\.pro`.*has a URL and a token/s)
    expect(fromUpstash(tiers, { window: '60 s', defaultTier: 'pro' }).config.defaultTier).toBe('pro')
  })

  it('answers a tier that names no configured one (null, a number) at the default tier, said once each, and only for a call it answers', async () => {
    const prefix = `tier-kinds-${RUN}`
    const lines: string[] = []
    const limiter = fromUpstash(
      {
        free: new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(2, '60 s'), prefix }),
        pro: new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(5, '60 s'), prefix }),
      },
      { defaultTier: 'free', window: '60 s', timeout: '5 s', logger: { warn: (line) => lines.push(line) } },
    )
    // Its config lists every tier, as createRateLimiter's does.
    expect([...limiter.config.tiers.keys()]).toEqual(['free', 'pro'])
    // A call refused for its cost says nothing of its tier, as createRateLimiter's does not.
    await expect(limiter.limit('u', { tier: 'gold', cost: 0 })).rejects.toMatchObject({
      code: 'ERR_FLOODGATE_INVALID_COST',
    })
    const seen = (d: Decision) => [d.tier, d.limit, d.remaining]
    expect(seen(await limiter.limit('u', { tier: null as never }))).toEqual(['free', 2, 1])
    expect(seen(await limiter.peek('u', { tier: 5 as never }))).toEqual(['free', 2, 0])
    expect(seen(await limiter.limit('u', { tier: undefined }))).toEqual(['free', 2, 0])
    expect(lines.map((line) => /Tier (.*?) is not configured/.exec(line)?.[1])).toEqual(['null', '5'])
  })

  it("gives a deny list's decision the tier that answered, with the quota that tier's Ratelimit gave last", async () => {
    // Ratelimit's in-process cache answers its deny list with limit 0: the quota shown is the last
    // one the same tier's Ratelimit gave (pro's 5), never another tier's, and 0 before any.
    const reset = NOW_MS + 30_000
    const answering = (...answers: UpstashRatelimitResponse[]) => ({
      limit: async () => answers.shift()!,
      getRemaining: async () => ({ remaining: 0, reset: 0 }),
      resetUsedTokens: async () => undefined,
    })
    const denied = { success: false, limit: 0, remaining: 0, reset: 0, reason: 'denyList' } as const
    const limiter = fromUpstash(
      {
        free: answering(denied),
        pro: answering({ success: true, limit: 5, remaining: 4, reset }, denied),
      },
      { defaultTier: 'free', window: '60 s', logger: false },
    )
    const seen = (d: Decision) => [d.tier, d.allowed, d.limit, d.remaining, d.reason]
    expect(seen(await limiter.limit('bad-user', { tier: 'pro' }))).toEqual(['pro', true, 5, 4, 'allowed'])
    expect(seen(await limiter.limit('bad-user'))).toEqual(['free', false, 0, 0, 'limited'])
    expect(seen(await limiter.limit('bad-user', { tier: 'pro' }))).toEqual(['pro', false, 5, 0, 'limited'])
  })

  it("gives a failure's decision the tier asked for, and names the tiers' Ratelimits in its line", async () => {
    const tiersOf = (freePrefix: string, proPrefix: string) => ({
      free: new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(2, '60 s'), prefix: freePrefix }),
      pro: new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(5, '60 s'), prefix: proPrefix }),
    })
    const lines: string[] = []
    const logger = { warn: (line: string) => lines.push(line) }
    const shared = fromUpstash(tiersOf(`tf-${RUN}`, `tf-${RUN}`), {
      defaultTier: 'free',
      window: '60 s',
      logger,
    })
    const apart = fromUpstash(tiersOf(`tf-free-${RUN}`, `tf-pro-${RUN}`), {
      defaultTier: 'free',
      window: '60 s',
      logger,
    })
    upstashDown()
    const seen = (d: Decision) => [d.tier, d.allowed, d.reason]
    expect(seen(await shared.limit('u', { tier: 'pro' }))).toEqual(['pro', true, 'store-error'])
    expect(seen(await shared.peek('u', { tier: 'pro' }))).toEqual(['pro', true, 'store-error'])
    expect(seen(await shared.limit('u', { tier: 'gold' }))).toEqual(['free', true, 'store-error'])
    expect(seen(await apart.limit('u'))).toEqual(['free', true, 'store-error'])
    expect(lines.filter((line) => /WARN_FLOODGATE_STORE_FAILURE/.test(line))).toEqual([
      expect.stringContaining(
        `Requests of the Ratelimits of tiers free, pro with prefix "tf-${RUN}" (policy "upstash")`,
      ),
      expect.stringContaining('Requests of the Ratelimits of tiers free, pro (policy "upstash")'),
    ])
  })

  it("logs no recovery for an answer from the in-process count of the tier's own cachedFixedWindow", async () => {
    const lines: string[] = []
    const pending: Promise<unknown>[] = []
    const limiter = fromUpstash(
      {
        free: new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(2, '60 s'), prefix: `cfw-free-${RUN}` }),
        pro: new Ratelimit({
          redis,
          limiter: Ratelimit.cachedFixedWindow(5, '60 s'),
          prefix: `cfw-pro-${RUN}`,
        }),
      },
      {
        defaultTier: 'free',
        window: '60 s',
        logger: { warn: (line) => lines.push(line) },
        waitUntil: (work) => void pending.push(work),
      },
    )
    const settle = () => Promise.all(pending.splice(0))
    expect((await limiter.limit('user', { tier: 'pro' })).remaining).toBe(4) // counted in pro's process too
    upstashDown()
    expect((await limiter.limit('newcomer')).reason).toBe('store-error')
    // Answered from pro's in-process count (free's Ratelimit has none): no answer of Upstash's.
    expect((await limiter.limit('user', { tier: 'pro' })).reason).toBe('allowed')
    await settle()
    expect(codesOf(lines)).toEqual(['WARN_FLOODGATE_STORE_FAILURE', 'WARN_FLOODGATE_STORE_FAILURE'])
  })

  it("forgets the block a tier's late denial cached in that tier's Ratelimit", async () => {
    const prefix = `late-tier-${RUN}`
    const limiter = fromUpstash(
      {
        free: new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(1, '60 s'), prefix }),
        pro: new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(2, '60 s'), prefix }),
      },
      { defaultTier: 'free', window: '60 s', timeout: '5 s' },
    )
    expect((await denialAnsweredAfterReset(limiter, 'pro')).reason).toBe('limited')
    expect((await limiter.limit('u', { tier: 'pro' })).reason).toBe('allowed')
  })

  it("refuses a reset that any tier's Ratelimit cannot make", async () => {
    const free = new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(2, '60 s'), prefix: `rt-${RUN}` })
    const multi = new MultiRegionRatelimit({
      redis: [redis],
      limiter: MultiRegionRatelimit.fixedWindow(5, '60 s'),
      prefix: `rt-${RUN}`,
    })
    const globbed = new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(5, '60 s'), prefix: `rt*-${RUN}` })
    for (const pro of [multi, globbed]) {
      const limiter = fromUpstash({ free, pro }, { defaultTier: 'free', window: '60 s', logger: false })
      await expect(limiter.reset('u')).rejects.toMatchObject({ code: 'ERR_FLOODGATE_STORE_ERROR' })
    }
  })

  it('validates its options at construction', () => {
    const ratelimit = new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(3, '60 s') })
    expect(() => fromUpstash(ratelimit, { window: 'soon' as never })).toThrow(
      /ERR_FLOODGATE_INVALID_DURATION/,
    )
    expect(() => fromUpstash(ratelimit, { window: '1 s', windw: 1 } as never)).toThrow(
      /Unknown option.*fromUpstash\(\).*ERR_FLOODGATE_UNKNOWN_OPTION/s,
    )
    // createRateLimiter's options that a Ratelimit decides itself are refused, not applied.
    for (const option of ['shadow', 'policies', 'store']) {
      expect(() => fromUpstash(ratelimit, { window: '1 s', [option]: true } as never), option).toThrow(
        /ERR_FLOODGATE_UNKNOWN_OPTION/,
      )
    }
    // The name is checked under the option the caller wrote.
    expect(() => fromUpstash(ratelimit, { window: '1 s', name: '' })).toThrow(
      /`fromUpstash\.name`.*ERR_FLOODGATE_INVALID_OPTION/s,
    )
    expect(() => fromUpstash({} as never, { window: '1 s' })).toThrow(/ERR_FLOODGATE_INVALID_OPTION/)
    expect(() => fromUpstash(null as never, { window: '1 s' })).toThrow(/ERR_FLOODGATE_INVALID_OPTION/)
  })

  it('refuses a Ratelimit whose client has no URL or token, on one region or several', () => {
    // `Redis.fromEnv()` with the variables unset: every call fails, and passes under 'allow'.
    const unset = new UpstashRedis({ url: '', token: '' })
    const expected =
      /fromUpstash\(ratelimit\).*has a URL and a token.*UPSTASH_REDIS_REST_URL.*ERR_FLOODGATE_INVALID_OPTION/s
    const single = new Ratelimit({ redis: unset, limiter: Ratelimit.fixedWindow(3, '60 s') })
    expect(() => fromUpstash(single, { window: '60 s' })).toThrow(expected)
    // A single Ratelimit is the argument itself, not a tier of it.
    expect(() => fromUpstash(single, { window: '60 s' })).toThrow(
      expect.objectContaining({ option: 'fromUpstash(ratelimit)' }),
    )
    const regions = new MultiRegionRatelimit({
      redis: [redis, unset],
      limiter: MultiRegionRatelimit.fixedWindow(3, '60 s'),
    })
    expect(() => fromUpstash(regions, { window: '60 s' })).toThrow(expected)
    const fine = new MultiRegionRatelimit({
      redis: [redis],
      limiter: MultiRegionRatelimit.fixedWindow(3, '60 s'),
    })
    expect(fromUpstash(fine, { window: '60 s' }).limit).toBeTypeOf('function')
  })
})

describe('fromUpstash over a REST server that answers something other than a count', () => {
  let server: HttpServer
  let url: string
  /** What every command is answered with. */
  let result: unknown = 'garbage'
  beforeAll(async () => {
    // Every command answered with a string: Ratelimit then reads its count as NaN.
    server = createHttpServer((req, res) => {
      let body = ''
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString()
      })
      req.on('end', () => {
        const commands: unknown[] = JSON.parse(body)
        // A pipeline is a list of commands, answered by a list of results.
        const answer = Array.isArray(commands[0]) ? commands.map(() => ({ result })) : { result }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer))
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  it('gives a store failure, never a decision whose headers read NaN', async () => {
    const garbled = upstashTestClient({ url, token: 'token' })
    const limiter = fromUpstash(
      new Ratelimit({ redis: garbled, limiter: Ratelimit.fixedWindow(5, '60 s') }),
      {
        window: '60 s',
        onStoreError: 'deny',
        logger: false,
      },
    )
    const decision = await limiter.limit('someone')
    expect(decision).toMatchObject({ allowed: false, reason: 'store-error' })
    expect(decision.error?.message).toMatch(/^Upstash Ratelimit answered something that is not a decision: /)
    expect(rateLimitHeaders(decision, ['draft-8', 'legacy'])).toEqual({})
  })

  it('gives a store failure for a count that is no whole number, never a quota no header can carry', async () => {
    result = [1.5, 5] // Ratelimit reads the count used, then the limit: 3.5 left
    try {
      const garbled = upstashTestClient({ url, token: 'token' })
      const limiter = fromUpstash(
        new Ratelimit({ redis: garbled, limiter: Ratelimit.fixedWindow(5, '60 s') }),
        {
          window: '60 s',
          logger: false,
        },
      )
      const decision = await limiter.limit('someone')
      expect(decision).toMatchObject({ allowed: true, reason: 'store-error' })
      expect(decision.error?.message).toMatch(/remaining 3\.5/)
    } finally {
      result = 'garbage'
    }
  })
})

/**
 * Puts a stand-in for `fetch` in place: `holdNext()` holds the next HTTP request on its way
 * (`started` settles once it is held, `release()` lets it go); `restore()` puts the real one back.
 */
function holdingFetch(): {
  holdNext(): { started: Promise<void>; release: () => void }
  restore(): void
} {
  const realFetch = globalThis.fetch
  let hold: { started: () => void; release: Promise<void> } | undefined
  globalThis.fetch = (async (...args: Parameters<typeof fetch>) => {
    const held = hold
    hold = undefined
    if (held !== undefined) {
      held.started()
      await held.release
    }
    return realFetch(...args)
  }) as typeof fetch
  return {
    holdNext() {
      let release = () => {}
      const released = new Promise<void>((resolve) => {
        release = resolve
      })
      const started = new Promise<void>((resolve) => {
        hold = { started: resolve, release: released }
      })
      return { started, release }
    },
    restore() {
      globalThis.fetch = realFetch
    },
  }
}
