import { describeRedis, useUpstashServer } from '@floodgate/tools'
import { afterEach, expect, it, vi } from 'vitest'
import { ERROR_CODES } from '../errors.js'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { STALL_MS } from '../redis/script-store.js'
import { type UpstashRedisClient, upstashStore } from './upstash-store.js'

// Upstash's HTTP requests are independent: one that is never answered must not stop the store for
// good. Taken for silent, it still sends one call per STALL_MS, whose answer ends the stall.
// The watchdog's interval and clock are faked; the requests are real, to a local Upstash server.

describeRedis('upstashStore with one lost request', (redisUrl) => {
  const upstash = useUpstashServer(redisUrl)
  afterEach(() => {
    vi.useRealTimers()
  })

  /** The real client, except that the script calls whose numbers are in `lost` never come back. */
  const lossy = (lost: Set<number>): UpstashRedisClient => {
    let calls = 0
    return {
      evalsha: (sha1, keys, args) => {
        calls++
        return lost.has(calls) ? new Promise<never>(() => undefined) : upstash.redis.evalsha(sha1, keys, args)
      },
      eval: (script, keys, args) => upstash.redis.eval(script, keys, args),
      del: (...keys: string[]) => upstash.redis.del(...keys),
    }
  }

  const limiterOn = (client: UpstashRedisClient, timeout = 50) =>
    createRateLimiter({
      policies: fixedWindow({ limit: 100, window: '1 h' }),
      store: upstashStore({ redis: client, logger: false }),
      prefix: `stall-${Date.now()}-${Math.random()}`,
      timeout,
      denyCache: false,
      logger: false,
    })

  /** Past `ms` of the watchdog's clock, once it has looked. */
  const watchdogLooks = async (ms: number) => {
    vi.advanceTimersByTime(ms)
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
  }

  it('takes two unanswered requests for silence; a call a STALL_MS still goes out, and its answer ends it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'performance'] })
    const limiter = limiterOn(lossy(new Set([1, 2])))
    const lost = [limiter.limit('a'), limiter.limit('a')]
    // Past the stall bound, with both still out: taken for silent, calls fail at once.
    await watchdogLooks(2 * STALL_MS)
    expect(await limiter.limit('b')).toMatchObject({ reason: 'store-error' })
    // One call a STALL_MS still goes out to find out; its answer ends the stall.
    await watchdogLooks(STALL_MS)
    expect(await limiter.limit('b')).toMatchObject({ allowed: true, reason: 'allowed', remaining: 99 })
    expect(await limiter.limit('c')).toMatchObject({ allowed: true, reason: 'allowed', remaining: 99 })
    for (const decision of await Promise.all(lost)) expect(decision).toMatchObject({ reason: 'store-error' })
    // A quiet spell longer than STALL_MS, the lost requests still out (a function between
    // invocations): nothing sent since the last answer waits, so the store is not silent. A burst
    // then goes out whole, rather than one call a STALL_MS.
    await watchdogLooks(STALL_MS + 200)
    const burst = await Promise.all(['d', 'e', 'f', 'g', 'h'].map((id) => limiter.limit(id)))
    expect(burst.map((d) => d.reason)).toEqual(['allowed', 'allowed', 'allowed', 'allowed', 'allowed'])
    await limiter.close()
  })

  // A reset sent to a silent store would pile up with the calls it holds; and a reset answered
  // ends no stall, so it must not take the one call a STALL_MS that a decision sends to find out.
  it('refuses resets while taken for silent, and leaves the call a STALL_MS to a decision', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'performance'] })
    const base = lossy(new Set([1, 2]))
    let deletes = 0
    // A second to answer: the calls that must reach the server do so on a busy machine too.
    const limiter = limiterOn(
      {
        ...base,
        del: (...keys: string[]) => {
          deletes++
          return base.del(...keys)
        },
      },
      1_000,
    )
    const lost = [limiter.limit('a'), limiter.limit('a')]
    await watchdogLooks(2 * STALL_MS)
    await expect(limiter.reset('a')).rejects.toMatchObject({ code: ERROR_CODES.STORE_ERROR })
    // A STALL_MS on, a call may go out: the reset asked first is refused all the same.
    await watchdogLooks(STALL_MS)
    await expect(limiter.reset('a')).rejects.toMatchObject({ code: ERROR_CODES.STORE_ERROR })
    expect(deletes).toBe(0)
    expect(await limiter.limit('b')).toMatchObject({ allowed: true, reason: 'allowed', remaining: 99 })
    // Answered: resets go again.
    await limiter.reset('a')
    expect(deletes).toBe(1)
    for (const decision of await Promise.all(lost)) expect(decision).toMatchObject({ reason: 'store-error' })
    await limiter.close()
  })

  it('times silence from the second unanswered request, not from a lost one before a quiet spell', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'performance'] })
    // Call 2 is lost; call 3 is answered only once released (a slow answer, 150 ms say).
    let release: () => void = () => undefined
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const base = lossy(new Set([2]))
    let calls = 0
    const slow: UpstashRedisClient = {
      ...base,
      evalsha: (sha1, keys, args) => {
        calls++
        const answer = base.evalsha(sha1, keys, args)
        return calls === 3 ? held.then(() => answer) : answer
      },
    }
    const limiter = limiterOn(slow)
    expect(await limiter.limit('a')).toMatchObject({ reason: 'allowed' })
    const lost = limiter.limit('a')
    await watchdogLooks(2 * STALL_MS) // a quiet spell
    const waiting = limiter.limit('b') // call 3, not answered yet
    await watchdogLooks(200)
    // Two requests sent since the last answer wait, but the second only for 200 ms: not silence.
    expect(await limiter.limit('c')).toMatchObject({ reason: 'allowed' })
    release()
    await waiting
    expect((await lost).reason).toBe('store-error')
    await limiter.close()
  })

  it('is not silenced by one lost request, the last before a quiet spell', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'performance'] })
    const limiter = limiterOn(lossy(new Set([2])))
    expect(await limiter.limit('a')).toMatchObject({ reason: 'allowed' })
    const lost = limiter.limit('a')
    await watchdogLooks(2 * STALL_MS)
    expect(await lost).toMatchObject({ reason: 'store-error' }) // its deadline
    const burst = await Promise.all(['b', 'c', 'd', 'e', 'f'].map((id) => limiter.limit(id)))
    expect(burst.map((d) => d.reason)).toEqual(['allowed', 'allowed', 'allowed', 'allowed', 'allowed'])
    await limiter.close()
  })
})
