import { afterEach, describe, expect, it, vi } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import type { IoredisClient, NodeRedisClient } from './clients.js'
import { redisStore } from './redis-store.js'

// What the script store sends and does around a call's deadline, with stand-in clients (what is
// under test is the store, not Redis; hang.test.ts runs a real one): the deadline argument on the
// server's clock, the late marker, no EVAL for calls already answered, no command to a client
// that is not ready, and no more writes to a node-redis connection after a reply timeout.

const SERVER_OFFSET_MS = 1_800_000_000_000 - Math.floor(performance.now())
/** The stand-in server's clock: epoch ms, far from this process's. */
const serverNow = () => Math.floor(performance.now() + SERVER_OFFSET_MS)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const policy = fixedWindow({ limit: 10, window: '1 m' })
const QUIET = { enableOfflineQueue: false, autoResendUnfulfilledCommands: false }

interface Sent {
  args: string[]
  atServerMs: number
}

/** An ioredis stand-in; `answer` gives each EVALSHA's reply (or rejection). */
function ioredisLike(
  answer: (args: string[]) => Promise<unknown>,
  extra: { status?: string; options?: object } = {},
) {
  const sent: Sent[] = []
  const evals: string[][] = []
  const client = {
    status: extra.status ?? 'ready',
    options: extra.options ?? QUIET,
    evalsha: (_sha: string, _n: number, _keys: string[], args: string[]) => {
      sent.push({ args, atServerMs: serverNow() })
      return answer(args)
    },
    eval: (_script: string, _n: number, _keys: string[], args: string[]) => {
      evals.push(args)
      return Promise.resolve([serverNow(), 1, 9, 60_000, 0])
    },
    del: async () => 0,
  }
  return { client: client as unknown as IoredisClient, sent, evals }
}

const allowed = () => Promise.resolve([serverNow(), 1, 9, 60_000, 0])

afterEach(() => {
  vi.useRealTimers()
})

describe('the deadline the script store sends', () => {
  it('is none before any reply, then the limiter deadline on the server clock', async () => {
    const { client, sent } = ioredisLike(allowed)
    const limiter = createRateLimiter({
      policies: policy,
      store: redisStore({ client, logger: false }),
      timeout: 250,
      logger: false,
    })
    await limiter.limit('a')
    await limiter.limit('a')
    expect(sent[0]!.args[2]).toBe('0')
    const ahead = Number(sent[1]!.args[2]) - sent[1]!.atServerMs
    // 250 ms after the call, on the server's clock (less the time a reply takes to be read, plus a ms of rounding).
    expect(ahead).toBeGreaterThanOrEqual(200)
    expect(ahead).toBeLessThanOrEqual(252)
    await limiter.close()
  })

  it("is the client's own command timeout when that is shorter", async () => {
    const { client, sent } = ioredisLike(allowed, { options: { ...QUIET, commandTimeout: 100 } })
    const limiter = createRateLimiter({
      policies: policy,
      store: redisStore({ client, logger: false }),
      timeout: 250,
      logger: false,
    })
    await limiter.limit('a')
    await limiter.limit('a')
    const ahead = Number(sent[1]!.args[2]) - sent[1]!.atServerMs
    expect(ahead).toBeGreaterThanOrEqual(60)
    expect(ahead).toBeLessThanOrEqual(102)
    await limiter.close()
  })

  it('is on the server clock under an injected clock too (the reply carries its TIME last)', async () => {
    const { client, sent } = ioredisLike(() => Promise.resolve([5_000, 1, 9, 60_000, 0, serverNow()]))
    const limiter = createRateLimiter({
      policies: policy,
      store: redisStore({ client, logger: false, clock: () => 5_000 }),
      timeout: 250,
      logger: false,
    })
    expect(await limiter.limit('a')).toMatchObject({ reason: 'allowed', nowMs: 5_000 })
    await limiter.limit('a')
    const ahead = Number(sent[1]!.args[2]) - sent[1]!.atServerMs
    expect(ahead).toBeGreaterThanOrEqual(200)
    expect(ahead).toBeLessThanOrEqual(252)
    await limiter.close()
  })

  for (const onStoreError of ['allow', 'deny'] as const) {
    it(`makes a late batch a store timeout under onStoreError '${onStoreError}'`, async () => {
      const { client } = ioredisLike(() => Promise.resolve([-1, serverNow()]))
      const failures: unknown[] = []
      const limiter = createRateLimiter({
        policies: policy,
        store: redisStore({ client, logger: false }),
        onStoreError,
        onStoreFailure: (error) => void failures.push(error),
        logger: false,
      })
      expect(await limiter.limit('a')).toMatchObject({
        reason: 'store-error',
        allowed: onStoreError === 'allow',
      })
      expect(failures).toMatchObject([{ code: 'ERR_FLOODGATE_STORE_TIMEOUT' }])
      await limiter.close()
    })
  }
})

describe('NOSCRIPT', () => {
  it('sends no EVAL when every call of the batch was already answered by its deadline', async () => {
    const { client, evals } = ioredisLike(async () => {
      await sleep(100)
      throw new Error('NOSCRIPT No matching script. Please use EVAL.')
    })
    const limiter = createRateLimiter({
      policies: policy,
      store: redisStore({ client, logger: false }),
      timeout: 20,
      logger: false,
    })
    const decisions = await Promise.all([limiter.limit('a'), limiter.limit('b')])
    expect(decisions.map((d) => d.reason)).toEqual(['store-error', 'store-error'])
    await sleep(150)
    expect(evals).toEqual([])
    await limiter.close()
  })

  it('sends the EVAL for calls still waiting', async () => {
    const { client, evals } = ioredisLike(async () => {
      throw new Error('NOSCRIPT No matching script. Please use EVAL.')
    })
    const limiter = createRateLimiter({
      policies: policy,
      store: redisStore({ client, logger: false }),
      timeout: 250,
      logger: false,
    })
    expect(await limiter.limit('a')).toMatchObject({ reason: 'allowed', remaining: 9 })
    expect(evals).toHaveLength(1)
    await limiter.close()
  })
})

describe('an ioredis client that is not ready', () => {
  for (const status of ['connecting', 'connect', 'reconnecting', 'close', 'end']) {
    it(`is sent nothing while '${status}' (its offline queue would hold the command)`, async () => {
      const { client, sent } = ioredisLike(allowed, { status })
      const limiter = createRateLimiter({
        policies: policy,
        store: redisStore({ client, logger: false }),
        logger: false,
      })
      expect(await limiter.limit('a')).toMatchObject({ reason: 'store-error' })
      expect(sent).toEqual([])
      await limiter.close()
    })
  }
  for (const status of ['ready', 'wait']) {
    it(`is sent the call when '${status}'`, async () => {
      const { client, sent } = ioredisLike(allowed, { status })
      const limiter = createRateLimiter({
        policies: policy,
        store: redisStore({ client, logger: false }),
        logger: false,
      })
      expect(await limiter.limit('a')).toMatchObject({ reason: 'allowed' })
      expect(sent).toHaveLength(1)
      await limiter.close()
    })
  }
})

describe('a node-redis connection after a reply timeout', () => {
  it('is written nothing more until Redis answers', async () => {
    let calls = 0
    let release: (reply: unknown) => void = () => undefined
    const client = {
      isOpen: true,
      isReady: true,
      options: { disableOfflineQueue: true, commandOptions: { timeout: 30 } },
      evalSha: () => {
        calls++
        if (calls === 1) return new Promise((resolve) => (release = resolve))
        return Promise.resolve([serverNow(), 1, 8, 60_000, 0])
      },
      eval: () => Promise.reject(new Error('unexpected EVAL')),
      del: async () => 0,
    }
    const limiter = createRateLimiter({
      policies: policy,
      store: redisStore({ client: client as unknown as NodeRedisClient, logger: false }),
      timeout: 250,
      logger: false,
    })
    // Failed by the store's reply timeout (30 ms), well before the limiter's 250 ms.
    expect(await limiter.limit('a')).toMatchObject({ reason: 'store-error' })
    // Refused at once: nothing is written behind the command Redis has not answered.
    expect(await limiter.limit('a')).toMatchObject({ reason: 'store-error' })
    expect(calls).toBe(1)
    // Its late reply (a late marker here) ends the stall.
    release([-1, serverNow()])
    await sleep(0)
    expect(await limiter.limit('a')).toMatchObject({ reason: 'allowed', remaining: 8 })
    expect(calls).toBe(2)
    await limiter.close()
  })
})
