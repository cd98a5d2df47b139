import { findFreePort } from '@floodgate/tools'
import { Redis as UpstashRedis } from '@upstash/redis'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ERROR_CODES, isFloodgateError } from '../errors.js'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { upstashStore } from '../upstash/upstash-store.js'
import { WARNING_CODES } from '../warnings.js'
import { redisStore } from './redis-store.js'

// A store given a client with risky settings warns once. Without a logger of its own, the warning
// goes through the logger of the limiter given the store, under its silenceWarnings: an app that
// routes Floodgate's warnings to its logger (or silences them) sees nothing on the console.

const policies = fixedWindow({ limit: 5, window: '1 m' })

/** An ioredis client with the library's defaults (an offline queue, resends), never connected. */
async function riskyClient(): Promise<Redis> {
  return new Redis({ port: await findFreePort(), lazyConnect: true })
}

function lines() {
  const seen: string[] = []
  return { seen, logger: { warn: (line: string) => void seen.push(line) } }
}

describe("a store's warning about its client", () => {
  const clients: Redis[] = []
  afterEach(() => {
    vi.restoreAllMocks()
    for (const client of clients.splice(0)) client.disconnect()
  })

  it("goes through the limiter's logger, once, and never to the console", async () => {
    const console = vi.spyOn(globalThis.console, 'warn')
    const client = await riskyClient()
    clients.push(client)
    const store = redisStore({ client })
    expect(console).not.toHaveBeenCalled()
    const first = lines()
    createRateLimiter({ policies, store, logger: first.logger })
    expect(first.seen).toHaveLength(1)
    expect(first.seen[0]).toMatch(
      /^\[floodgate\] WARN_FLOODGATE_CLIENT_SETTINGS: The ioredis client given to redisStore\(\)/,
    )
    const second = lines()
    createRateLimiter({ policies, store, logger: second.logger, prefix: 'other' })
    expect(second.seen).toEqual([])
    expect(console).not.toHaveBeenCalled()
  })

  it('goes to the console at the first call of a store no limiter was given (used on its own, or wrapped)', async () => {
    const console = vi.spyOn(globalThis.console, 'warn').mockImplementation(() => undefined)
    const client = await riskyClient()
    clients.push(client)
    const store = redisStore({ client })
    expect(console).not.toHaveBeenCalled()
    await store.reset({ prefix: 'p', id: 'a', policies: [] })
    await store.reset({ prefix: 'p', id: 'a', policies: [] })
    expect(console).toHaveBeenCalledTimes(1)
    expect(String(console.mock.calls[0]![0])).toMatch(/WARN_FLOODGATE_CLIENT_SETTINGS: The ioredis client/)
  })

  it('is written once per client, by whichever of its stores a limiter is given', async () => {
    const console = vi.spyOn(globalThis.console, 'warn')
    const client = await riskyClient()
    clients.push(client)
    redisStore({ client }) // never used
    const { seen, logger } = lines()
    createRateLimiter({ policies, store: redisStore({ client }), logger })
    expect(seen).toHaveLength(1)
    const again = lines()
    // Another prefix: the same counters of one client would be a warning of their own.
    createRateLimiter({ policies, store: redisStore({ client }), logger: again.logger, prefix: 'other' })
    expect(again.seen).toEqual([])
    expect(console).not.toHaveBeenCalled()
  })

  it('is written once per @upstash/redis client too, by whichever of its stores a limiter is given', () => {
    const console = vi.spyOn(globalThis.console, 'warn')
    // The library's default retry setting: a lost answer's request is sent again.
    const redis = new UpstashRedis({ url: 'http://127.0.0.1:1', token: 't', enableTelemetry: false })
    upstashStore({ redis }) // never used
    const { seen, logger } = lines()
    createRateLimiter({ policies, store: upstashStore({ redis }), logger })
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatch(
      /WARN_FLOODGATE_CLIENT_SETTINGS: The @upstash\/redis client given to upstashStore\(\) retries/,
    )
    const again = lines()
    createRateLimiter({ policies, store: upstashStore({ redis }), logger: again.logger, prefix: 'other' })
    expect(again.seen).toEqual([])
    expect(console).not.toHaveBeenCalled()
  })

  it("follows the limiter's silenceWarnings and logger: false", async () => {
    const console = vi.spyOn(globalThis.console, 'warn')
    for (const options of [
      { silenceWarnings: [WARNING_CODES.CLIENT_SETTINGS] },
      { logger: false as const },
    ]) {
      const client = await riskyClient()
      clients.push(client)
      const { seen, logger } = lines()
      createRateLimiter({ policies, store: redisStore({ client }), logger, ...options })
      expect(seen).toEqual([])
    }
    const upstash = new UpstashRedis({ url: 'http://127.0.0.1:1', token: 't', enableTelemetry: false })
    createRateLimiter({ policies, store: upstashStore({ redis: upstash }), logger: false })
    expect(console).not.toHaveBeenCalled()
  })

  it("goes at once through the store's own logger when it has one", async () => {
    const client = await riskyClient()
    clients.push(client)
    const { seen, logger } = lines()
    redisStore({ client, logger })
    expect(seen).toHaveLength(1)
    const upstash = new UpstashRedis({ url: 'http://127.0.0.1:1', token: 't', enableTelemetry: false })
    const other = lines()
    upstashStore({ redis: upstash, logger: other.logger })
    expect(other.seen[0]).toMatch(
      /WARN_FLOODGATE_CLIENT_SETTINGS: The @upstash\/redis client given to upstashStore\(\) retries/,
    )
  })

  it("is silenced by the store's own logger: false, under a limiter that logs and used alone alike", async () => {
    const console = vi.spyOn(globalThis.console, 'warn').mockImplementation(() => undefined)
    const client = await riskyClient()
    const alone = await riskyClient()
    clients.push(client, alone)
    const { seen, logger } = lines()
    createRateLimiter({ policies, store: redisStore({ client, logger: false }), logger })
    expect(seen).toEqual([])
    const store = redisStore({ client: alone, logger: false })
    await store.reset({ prefix: 'p', id: 'a', policies: [] })
    expect(console).not.toHaveBeenCalled()
  })

  it("checks the store's logger option like the limiter's", async () => {
    const client = await riskyClient()
    clients.push(client)
    for (const logger of [{}, 'pino', { warn: 1 }]) {
      let error: unknown
      try {
        // biome-ignore lint/suspicious/noExplicitAny: a wrong value is what the test passes
        redisStore({ client, logger: logger as any })
      } catch (caught) {
        error = caught
      }
      expect(isFloodgateError(error, ERROR_CODES.INVALID_OPTION)).toBe(true)
      expect((error as { option?: string }).option).toBe('redisStore.logger')
    }
  })
})
