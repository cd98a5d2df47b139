import { createServer, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import type { Decision } from '../decision.js'
import { createRateLimiter, type RateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { memoryStore } from '../stores/memory-store.js'
import { brokenStore } from '../testing/adapter-fixture.js'
import { manualClock } from '../testing/manual-clock.js'
import { fakeBinding as binding, type FakeRequest } from './fake-request.js'
import { bindsBefore, createRateLimitHandler, cutOffIfBegun, leavesHeaders } from './request-handler.js'

const policies = fixedWindow({ limit: 10, window: '1 m' })
const request = (): FakeRequest => ({ ip: '192.0.2.7', headers: {} })

describe('skip', () => {
  it('warns of nothing when it answers false, undefined or null, and the request counts', async () => {
    for (const answer of [false, undefined, null]) {
      const lines: string[] = []
      const logger = { warn: (line: string) => void lines.push(line) }
      const handler = createRateLimitHandler({ policies, logger, skip: () => answer as never }, binding)
      expect(await handler.decide(request())).toMatchObject({ allowed: true, remaining: 9 })
      expect(lines).toEqual([])
    }
  })
})

describe('mounts of one limiter on one request', () => {
  it('count it once per identifier, however many mounts with other keys come between', async () => {
    const limiter = createRateLimiter({ policies, logger: false })
    const mount = (id: string) => createRateLimitHandler({ limiter, key: () => id }, binding)
    const [a, b, c, aAgain, bAgain] = ['key-a', 'key-b', 'key-c', 'key-a', 'key-b'].map(mount)
    const req = request()
    expect(await a!.decide(req)).toMatchObject({ allowed: true, remaining: 9 })
    expect(await b!.decide(req)).toMatchObject({ allowed: true, remaining: 9 })
    expect(await c!.decide(req)).toMatchObject({ allowed: true, remaining: 9 })
    expect(await aAgain!.decide(req)).toBeUndefined()
    expect(await bAgain!.decide(req)).toBeUndefined()
    // A mount without a key, on the direct path, counts the client address beside them, once.
    const plain = createRateLimitHandler({ limiter }, binding)
    expect(plain.decideNow(req)).toMatchObject({ allowed: true, remaining: 9 })
    expect(plain.decideNow(req)).toBeUndefined()
    expect(await c!.decide(req)).toBeUndefined()
  })

  it('count it once per identifier, tier and cost, each mount on terms of its own', async () => {
    const limiter = createRateLimiter({
      tiers: {
        free: fixedWindow({ name: 'free', limit: 10, window: '1 m' }),
        pro: fixedWindow({ name: 'pro', limit: 100, window: '1 m' }),
      },
      defaultTier: 'free',
      logger: false,
    })
    const mount = (id: string, tier: string, cost: number) =>
      createRateLimitHandler({ limiter, key: () => id, tier: () => tier, cost: () => cost }, binding)
    // Each differs from the first in one term only: the tier, the cost, the identifier.
    const mounts = [
      mount('user-1', 'pro', 2),
      mount('user-1', 'free', 2),
      mount('user-1', 'pro', 3),
      mount('user-2', 'pro', 2),
    ]
    const req = request()
    const first = []
    for (const m of mounts) first.push((await m.decide(req))?.remaining)
    expect(first).toEqual([98, 8, 95, 98])
    for (const m of mounts) expect(await m.decide(req)).toBeUndefined()
  })

  it('count it once under a key the direct path counted first, and once under its own', async () => {
    const limiter = createRateLimiter({ policies, logger: false })
    const plain = createRateLimitHandler({ limiter }, binding)
    const keyed = createRateLimitHandler({ limiter, key: () => 'user-1' }, binding)
    const req = request()
    expect(plain.decideNow(req)).toMatchObject({ allowed: true, remaining: 9 })
    expect(await keyed.decide(req)).toMatchObject({ allowed: true, remaining: 9 })
    expect(plain.decideNow(req)).toBeUndefined()
    expect(await keyed.decide(req)).toBeUndefined()
    // The other order: a keyed mount first, then the direct path adds the address to its mark.
    const other = request()
    expect(await keyed.decide(other)).toMatchObject({ allowed: true, remaining: 8 })
    expect(plain.decideNow(other)).toMatchObject({ allowed: true, remaining: 8 })
    expect(plain.decideNow(other)).toBeUndefined()
    expect(await keyed.decide(other)).toBeUndefined()
  })
})

describe('handle', () => {
  it('answers skip, pass and limited, as decide and outcome do', async () => {
    const handler = createRateLimitHandler(
      {
        policies: fixedWindow({ limit: 1, window: '1 m' }),
        // A clock that stands still: the second request is denied in the window of the first.
        store: memoryStore({ clock: manualClock(1_700_000_000_000) }),
        logger: false,
        skip: (req: FakeRequest) => req.headers['x-skip'] === '1',
      },
      binding,
    )
    expect(await handler.handle({ ip: '192.0.2.7', headers: { 'x-skip': '1' } })).toEqual({ action: 'skip' })
    expect(await handler.handle(request())).toMatchObject({
      action: 'pass',
      decision: { allowed: true, remaining: 0 },
    })
    expect(await handler.handle(request())).toMatchObject({ action: 'limited', status: 429 })
  })

  it("answers a store failure with a pass exposing the failure, no headers, under 'allow'; 503 under 'deny'", async () => {
    const broken = brokenStore()
    const allow = createRateLimitHandler({ policies, store: broken, logger: false }, binding)
    expect(await allow.handle(request())).toEqual({
      action: 'pass',
      decision: expect.objectContaining({ allowed: true, reason: 'store-error' }),
      headers: {},
      clears: [],
      ifAbsent: false,
    })
    const deny = createRateLimitHandler(
      { policies, store: broken, logger: false, onStoreError: 'deny' },
      binding,
    )
    expect(await deny.handle(request())).toMatchObject({
      action: 'unavailable',
      decision: { allowed: false, reason: 'store-error' },
      headers: {},
      clears: [],
      status: 503,
    })
  })
})

describe('a custom limiter', () => {
  it('has its answer checked beside callbacks too: anything but a decision rejects, never skips', async () => {
    const real = createRateLimiter({ policies, logger: false })
    // A wrapper that forgot its `return`, on the path a `key` callback takes.
    const forgetful: RateLimiter = { ...real, limit: async () => undefined as unknown as Decision }
    const handler = createRateLimitHandler({ limiter: forgetful, key: () => 'user-1' }, binding)
    await expect(handler.decide(request())).rejects.toMatchObject({ code: 'ERR_FLOODGATE_INVALID_DECISION' })
  })

  it('rejects as an invalid decision an answer without a boolean `allowed` or a `policies` array', async () => {
    const real = createRateLimiter({ policies, logger: false })
    for (const answer of [
      null,
      'allowed',
      { allowed: true },
      { policies: [] },
      { allowed: 'yes', policies: [] },
    ]) {
      const odd: RateLimiter = { ...real, limit: async () => answer as unknown as Decision }
      // Both paths: the direct one, and the one beside a callback.
      for (const key of [undefined, () => 'user-1']) {
        const handler = createRateLimitHandler({ limiter: odd, key }, binding)
        await expect(handler.decide(request())).rejects.toMatchObject({
          code: 'ERR_FLOODGATE_INVALID_DECISION',
        })
      }
    }
  })
})

describe('bindsBefore', () => {
  it('never lets a denied decision bind before one that admits, whatever it has left', async () => {
    const limiter = createRateLimiter({ policies, logger: false })
    const admitted = await limiter.limit('192.0.2.7')
    // An Express onLimited may call next(): the next limiter then finds a denial on the request.
    const denied: Decision = { ...admitted, allowed: false, remaining: 0, reason: 'limited' }
    expect(bindsBefore(denied, admitted)).toBe(false)
    // Nor does a store failure's (no headers, nothing left), however many the other has left.
    expect(bindsBefore({ ...admitted, remaining: 0, reason: 'store-error' }, admitted)).toBe(false)
    expect(bindsBefore({ ...admitted, remaining: 0 }, admitted)).toBe(true)
    // Nothing there binds: undefined, or a null an app left at the property.
    expect(bindsBefore(undefined, admitted)).toBe(false)
    expect(bindsBefore(null as never, admitted)).toBe(false)
  })

  it('binds first only with fewer requests left, counted in a number', async () => {
    const limiter = createRateLimiter({ policies, logger: false })
    const admitted = await limiter.limit('192.0.2.7')
    // On a tie the later limiter's decision takes over.
    expect(bindsBefore({ ...admitted }, admitted)).toBe(false)
    // Another library's object binds by a `remaining` that is a number, and by nothing else.
    expect(bindsBefore({ limit: 10, used: 10, remaining: 0 } as never, admitted)).toBe(true)
    for (const remaining of [undefined, null, '0']) {
      expect(bindsBefore({ limit: 10, used: 10, remaining } as never, admitted)).toBe(false)
    }
  })
})

describe('created while a request is handled', () => {
  it("is warned of under the adapter's own name for the call", () => {
    const lines: string[] = []
    const logger = { warn: (line: string) => void lines.push(line) }
    // A binding whose request frames match this very stack: as if made inside the framework.
    createRateLimitHandler(
      { policies, logger },
      { ...binding, requestFrames: /handler-edges\.test/ },
      [],
      'myLimit()',
    )
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain('myLimit() was called while a request was being handled')
  })
})

describe('leavesHeaders', () => {
  it("leaves a shadow-mode pass's headers out where the response has any one rate-limit field", async () => {
    const shadow = createRateLimitHandler({ policies, mode: 'shadow', logger: false }, binding)
    const decision = await shadow.decide(request())
    const outcome = shadow.outcome(decision!)
    const response = (...names: string[]) => ({ hasHeader: (name: string) => names.includes(name) })
    expect(leavesHeaders(outcome, response())).toBe(false)
    expect(leavesHeaders(outcome, response('content-type', 'cache-control'))).toBe(false)
    // Each field of every format another library may have written: draft-6/7/8 and legacy.
    for (const name of [
      'ratelimit',
      'ratelimit-policy',
      'ratelimit-limit',
      'ratelimit-remaining',
      'ratelimit-reset',
      'x-ratelimit-limit',
      'x-ratelimit-remaining',
      'x-ratelimit-reset',
    ]) {
      expect([name, leavesHeaders(outcome, response(name))]).toEqual([name, true])
    }
  })
})

describe('cutOffIfBegun', () => {
  /** What a client receives when a server's handler does `begin(res)`, then asks cutOffIfBegun. */
  async function served(begin: (res: import('node:http').ServerResponse) => void) {
    let said: boolean | undefined
    const server = createServer((_req, res) => {
      begin(res)
      said = cutOffIfBegun(res)
      if (!said) res.end('answered')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const got = await new Promise<string>((resolve) => {
        const req = httpRequest(
          { port: (server.address() as AddressInfo).port, host: '127.0.0.1' },
          (res) => {
            let body = ''
            res.on('data', (chunk) => (body += chunk))
            res.on('end', () => resolve(`ended: ${body}`))
            res.on('error', () => resolve(`cut off after: ${body}`))
          },
        )
        req.on('error', () => resolve('cut off'))
        req.end()
      })
      return { said, got }
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  }

  it('leaves a response nobody began to the adapter, closes one begun, and leaves one ended', async () => {
    expect(await served(() => {})).toEqual({ said: false, got: 'ended: answered' })
    // Begun (a stream's head and first event) and not ended: closed, whatever of it had gone out.
    const begun = await served((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: 1\n\n')
    })
    expect(begun.said).toBe(true)
    expect(begun.got).toMatch(/^cut off/)
    expect(await served((res) => res.end('earlier'))).toEqual({ said: true, got: 'ended: earlier' })
    // Ended with more than the socket takes at once: the rest still goes out, whole.
    const long = 'x'.repeat(16 * 1024 * 1024)
    const ended = await served((res) => res.end(long))
    expect({ said: ended.said, whole: ended.got === `ended: ${long}` }).toEqual({ said: true, whole: true })
  })
})
