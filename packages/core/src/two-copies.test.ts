import { findFreePort } from '@floodgate/tools'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { manualClock } from './testing/manual-clock.js'

// An app can load @floodgate/core twice: its ESM and its CommonJS build (an ESM app with a CommonJS
// dependency that requires Floodgate, a bundle of both), or two installed versions. Each copy has
// its own modules; here each `vi.resetModules()` + `import()` is one such copy.

type Core = typeof import('./index.js')

async function copyOfCore(): Promise<Core> {
  vi.resetModules()
  return import('./index.js')
}

afterEach(() => {
  vi.resetModules()
})

const binding = {
  ip: (req: { ip: string }) => req.ip,
  headers: () => ({}),
  trustsProxy: () => false,
}

describe('two copies of @floodgate/core in one process', () => {
  it('are two copies: their classes differ', async () => {
    const a = await copyOfCore()
    const b = await copyOfCore()
    expect(a.createRateLimiter).not.toBe(b.createRateLimiter)
    expect(a.FloodgateError).not.toBe(b.FloodgateError)
  })

  it("recognise each other's errors: instanceof, isFloodgateError and a store failure's code", async () => {
    const a = await copyOfCore()
    const b = await copyOfCore()
    let thrown: unknown
    try {
      a.fixedWindow({ limit: -1, window: '1 m' })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(b.FloodgateError)
    expect(b.isFloodgateError(thrown, b.ERROR_CODES.INVALID_OPTION)).toBe(true)
    expect(new Error('not ours')).not.toBeInstanceOf(b.FloodgateError)
    // An app's own subclass keeps the usual check: a FloodgateError is not one of it.
    class AppLimitError extends b.FloodgateError {}
    expect(thrown).not.toBeInstanceOf(AppLimitError)
    expect(new AppLimitError(b.ERROR_CODES.INVALID_OPTION, 'app')).toBeInstanceOf(AppLimitError)
    expect(new AppLimitError(b.ERROR_CODES.INVALID_OPTION, 'app')).toBeInstanceOf(a.FloodgateError)
    expect(b.isFloodgateError({ code: b.ERROR_CODES.INVALID_OPTION })).toBe(false)

    // A store of copy a, full, under a limiter of copy b: its STORE_FULL is kept, not rewritten.
    const store = a.memoryStore({ maxKeys: 1 })
    const limiter = b.createRateLimiter({
      policies: b.tokenBucket({ capacity: 1, refillRate: 1, interval: '1 h' }),
      store,
      logger: false,
    })
    expect((await limiter.limit('first')).allowed).toBe(true)
    const full = await limiter.limit('second')
    expect(full.reason).toBe('store-error')
    expect(full.error?.code).toBe(b.ERROR_CODES.STORE_FULL)
    expect(full.error?.message).not.toMatch(/store failed/)
    await limiter.close()
  })

  it('warn of two limiters sharing counters on one store', async () => {
    const a = await copyOfCore()
    const b = await copyOfCore()
    const store = a.memoryStore()
    const policies = a.fixedWindow({ limit: 5, window: '1 m' })
    const warnings: string[] = []
    const logger = { warn: (message: string) => void warnings.push(message) }
    const first = a.createRateLimiter({ policies, store, logger })
    const second = b.createRateLimiter({ policies, store, logger })
    expect(warnings.filter((w) => w.includes(b.WARNING_CODES.SHARED_COUNTERS))).toHaveLength(1)
    await first.close()
    await second.close()
  })

  it("write a store's warning about its client through the logger of a limiter of the other copy, once", async () => {
    // Each copy's redisStore, imported before the next copy's modules are made.
    const a = { ...(await copyOfCore()), ...(await import('./redis/index.js')) }
    const b = { ...(await copyOfCore()), ...(await import('./redis/index.js')) }
    expect(a.redisStore).not.toBe(b.redisStore)
    const console = vi.spyOn(globalThis.console, 'warn')
    // An ioredis client with the library's defaults (an offline queue, resends), never connected.
    const client = new Redis({ port: await findFreePort(), lazyConnect: true })
    try {
      const policies = b.fixedWindow({ limit: 5, window: '1 m' })
      const warnings: string[] = []
      const logger = { warn: (message: string) => void warnings.push(message) }
      b.createRateLimiter({ policies, store: a.redisStore({ client }), logger })
      expect(warnings).toEqual([expect.stringMatching(/^\[floodgate\] WARN_FLOODGATE_CLIENT_SETTINGS: /)])
      // Once per client in the process, whichever copy made its store.
      a.createRateLimiter({ policies, store: b.redisStore({ client }), logger, prefix: 'other' })
      expect(warnings).toHaveLength(1)
      expect(console).not.toHaveBeenCalled()
    } finally {
      console.mockRestore()
      client.disconnect()
    }
  })

  it('warn of two limiters sharing counters through two stores of one Redis client, one made by each copy', async () => {
    const a = { ...(await copyOfCore()), ...(await import('./redis/index.js')) }
    const b = { ...(await copyOfCore()), ...(await import('./redis/index.js')) }
    const client = new Redis({ port: await findFreePort(), lazyConnect: true })
    try {
      const warnings: string[] = []
      const logger = { warn: (message: string) => void warnings.push(message) }
      const first = a.createRateLimiter({
        policies: a.fixedWindow({ limit: 5, window: '1 m' }),
        store: a.redisStore({ client, logger: false }),
        logger,
      })
      // A limiter of copy a given the store of copy b: it finds that store's client all the same.
      const second = a.createRateLimiter({
        policies: a.fixedWindow({ limit: 5, window: '1 m' }),
        store: b.redisStore({ client, logger: false }),
        logger,
      })
      expect(warnings).toEqual([expect.stringMatching(/^\[floodgate\] WARN_FLOODGATE_SHARED_COUNTERS: /)])
      await first.close()
      await second.close()
    } finally {
      client.disconnect()
    }
  })

  it("count a request passing one limiter's mounts from both copies once, and keep a shadow limiter's headers from taking over", async () => {
    const a = await copyOfCore()
    const b = await copyOfCore()
    // Its store's clock stands still: a minute's end between the decision and the peek would empty
    // the count the peek reads.
    const limiter = a.createRateLimiter({
      policies: a.fixedWindow({ limit: 4, window: '1 m' }),
      store: a.memoryStore({ clock: manualClock(500_000 * 3_600_000) }),
    })
    const mountA = a.createRateLimitHandler({ limiter }, binding)
    const mountB = b.createRateLimitHandler({ limiter }, binding)
    const req = { ip: '192.0.2.1' }
    expect((await mountA.decide(req))?.remaining).toBe(3)
    expect(await mountB.decide(req)).toBeUndefined()
    // Counted once: three left (counted twice, two).
    expect((await limiter.peek('192.0.2.1')).remaining).toBe(3)

    const shadow = b.createRateLimiter({
      policies: b.fixedWindow({ name: 'shadow', limit: 2, window: '1 m' }),
      mode: 'shadow',
    })
    const shadowMount = b.createRateLimitHandler({ limiter: shadow }, binding)
    const next = { ip: '192.0.2.2' }
    const enforced = await mountA.handle(next)
    const shadowOutcome = await shadowMount.handle(next)
    if (enforced.action !== 'pass' || shadowOutcome.action !== 'pass') throw new Error('both should pass')
    const shadowed = shadowOutcome.decision
    expect(enforced.decision.remaining).toBe(3)
    expect(shadowed.remaining).toBe(1)
    // The shadow limiter has fewer left, but enforces nothing: the enforcing decision binds.
    expect(a.bindsBefore(enforced.decision, shadowed)).toBe(true)
    expect(b.bindsBefore(shadowed, enforced.decision)).toBe(false)
    await limiter.close()
    await shadow.close()
  })
})
