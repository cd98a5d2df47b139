import { describe, expect, it } from 'vitest'
import type { Decision } from '../decision.js'
import { ERROR_CODES } from '../errors.js'
import { createRateLimiter, type RateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { memoryStore } from '../stores/memory-store.js'
import { manualClock } from '../testing/manual-clock.js'
import { fakeBinding as binding, type FakeRequest } from './fake-request.js'
import { createRateLimitHandler, type RequestBinding } from './request-handler.js'

// The adapters' path into the limiter: on the memory store with no callbacks the decision comes
// back as a value, so a request waits on no promise; everywhere else, a promise that never throws.

const policies = fixedWindow({ limit: 2, window: '1 m' })
const request = (): FakeRequest => ({ ip: '192.0.2.7', headers: {} })

describe('decideNow', () => {
  it('gives the decision itself on the memory store, the same decisions limit() gives', async () => {
    let now = 1_700_000_000_000
    const handler = createRateLimitHandler(
      { policies, store: memoryStore({ clock: () => now }), logger: false },
      binding,
    )
    const answers = [1, 2, 3].map(() => handler.decideNow(request()))
    for (const answer of answers) expect(answer).not.toBeInstanceOf(Promise)
    const decisions = answers as (Decision | undefined)[]
    expect(decisions.map((d) => d?.remaining)).toEqual([1, 0, 0])
    expect(decisions.map((d) => d?.allowed)).toEqual([true, true, false])
    now += 60_000
    const next = handler.decideNow(request())
    expect(next).toMatchObject({ allowed: true, remaining: 1 })
    expect(await handler.limiter.peek('ip:192.0.2.7')).toMatchObject({ remaining: 0 })
  })

  it('skips, synchronously, a request this limiter already counted', () => {
    const handler = createRateLimitHandler({ policies, logger: false }, binding)
    const req = request()
    expect(handler.decideNow(req)).toMatchObject({ allowed: true })
    expect(handler.decideNow(req)).toBeUndefined()
  })

  it("keeps the counted mark where the binding's marks() says, leaving the request untouched", () => {
    const holders = new Map<FakeRequest, object>()
    const marked: RequestBinding<FakeRequest> = {
      ...binding,
      marks: (req) => {
        const holder = holders.get(req) ?? {}
        holders.set(req, holder)
        return holder
      },
    }
    // A clock that stands still: the second request is counted in the window of the first.
    const store = memoryStore({ clock: manualClock(1_700_000_000_000) })
    const handler = createRateLimitHandler({ policies, store, logger: false }, marked)
    const req = request()
    expect(handler.decideNow(req)).toMatchObject({ allowed: true, remaining: 1 })
    expect(Object.getOwnPropertySymbols(req)).toEqual([])
    expect(Object.getOwnPropertySymbols(holders.get(req)!)).toHaveLength(1)
    // The same request again: already counted, by the mark in its holder.
    expect(handler.decideNow(req)).toBeUndefined()
    expect(handler.decideNow(request())).toMatchObject({ allowed: true, remaining: 0 })
  })

  it('returns a promise when a callback is asynchronous, and its rejection', async () => {
    const keyed = createRateLimitHandler({ policies, logger: false, key: async () => 'k' }, binding)
    const answer = keyed.decideNow(request())
    expect(answer).toBeInstanceOf(Promise)
    await expect(answer).resolves.toMatchObject({ allowed: true, remaining: 1 })

    const failing = createRateLimitHandler(
      {
        policies,
        logger: false,
        key: () => {
          throw new Error('no key')
        },
      },
      binding,
    )
    await expect(failing.decideNow(request())).rejects.toThrow('no key')
  })

  it('rejects with an error when the binding throws a value a framework takes for "no error"', async () => {
    // The framework's own code reads the address: Express calls the app's `trust proxy` function.
    for (const thrown of [undefined, null, 'route']) {
      const throwing: RequestBinding<FakeRequest> = {
        ...binding,
        ip: () => {
          throw thrown
        },
      }
      const handler = createRateLimitHandler({ policies, logger: false }, throwing)
      await expect(handler.decideNow(request())).rejects.toMatchObject({ code: ERROR_CODES.CALLBACK_FAILED })
    }
  })

  it('rejects, and does not throw, once the limiter is closed', async () => {
    const handler = createRateLimitHandler({ policies, logger: false }, binding)
    await handler.limiter.close()
    let answer: unknown
    expect(() => {
      answer = handler.decideNow(request())
    }).not.toThrow()
    await expect(answer).rejects.toMatchObject({ code: ERROR_CODES.CLOSED })
  })

  it('goes through limit() for a limiter of another make, as a native Promise', async () => {
    // A clock that stands still: the second request is counted in the window of the first.
    const store = memoryStore({ clock: manualClock(1_700_000_000_000) })
    const inner = createRateLimiter({ policies, store, logger: false })
    const calls: string[] = []
    const wrapped: RateLimiter = {
      limit: (id, options) => {
        calls.push(id)
        return inner.limit(id, options)
      },
      peek: (id, options) => inner.peek(id, options),
      reset: (id) => inner.reset(id),
      close: () => inner.close(),
      config: inner.config,
      warnings: inner.warnings,
    }
    const handler = createRateLimitHandler({ limiter: wrapped }, binding)
    const answer = handler.decideNow(request())
    expect(answer).toBeInstanceOf(Promise)
    await expect(answer).resolves.toMatchObject({ allowed: true })
    expect(calls).toEqual(['ip:192.0.2.7'])

    // Its own thenable comes back as a native Promise, which the adapters can tell from a decision.
    const thenable: RateLimiter = {
      ...wrapped,
      limit: (id, options) => {
        const decided = inner.limit(id, options)
        // biome-ignore lint/suspicious/noThenProperty: a thenable that is not a native Promise, on purpose
        return { then: (ok, fail) => decided.then(ok, fail) } as Promise<Decision>
      },
    }
    const foreign = createRateLimitHandler({ limiter: thenable }, binding).decideNow(request())
    expect(foreign).toBeInstanceOf(Promise)
    await expect(foreign).resolves.toMatchObject({ allowed: true, remaining: 0 })
  })

  it('goes through limit() for a wrapper of a limiter that replaces it (a Proxy, Object.create)', async () => {
    const inner = createRateLimiter({ policies, logger: false })
    const calls: string[] = []
    const banned = (id: string, options?: Parameters<RateLimiter['limit']>[1]) => {
      calls.push(id)
      return inner.peek(id, options).then((decision) => ({ ...decision, allowed: false }))
    }
    const proxied = new Proxy(inner, {
      get: (target, property, receiver) =>
        property === 'limit' ? banned : Reflect.get(target, property, receiver),
    })
    const created: RateLimiter = Object.assign(Object.create(inner) as RateLimiter, { limit: banned })
    for (const limiter of [proxied, created]) {
      const answer = createRateLimitHandler({ limiter }, binding).decideNow(request())
      expect(answer).toBeInstanceOf(Promise)
      await expect(answer).resolves.toMatchObject({ allowed: false })
    }
    expect(calls).toEqual(['ip:192.0.2.7', 'ip:192.0.2.7'])
    // A wrapper that leaves limit() alone keeps the direct path, and counts once per request.
    const untouched = new Proxy(inner, {})
    const direct = createRateLimitHandler({ limiter: untouched }, binding).decideNow(request())
    expect(direct).not.toBeInstanceOf(Promise)
    expect(direct).toMatchObject({ allowed: true, remaining: 1 })
  })
})
