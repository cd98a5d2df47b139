import { describe, expect, it, vi } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { type UpstashRedisClient, upstashStore } from '../upstash/upstash-store.js'
import type { RedisClient } from './clients.js'
import { redisStore } from './redis-store.js'
import { STALL_MS, TRYAGAIN_DELAY_MS } from './script-store.js'

// The decision script answers whole numbers. A reply of the right length holding anything else (a
// proxy's garbage, another program's keys) is a store failure that follows onStoreError, on the
// limiter's own path and through the store's `consume`; never a decision made of NaN. The client is
// a stand-in here: what is under test is what the store does with what a client hands it.

const NOW = 1_800_000_000_000
const garbage: [string, unknown[]][] = [
  ['strings', [NOW, 'x', 'x', 'x', 'x']],
  ['nulls', [NOW, null, null, null, null]],
  ['a time that is not a number', ['x', 1, 9, 1_000, 0]],
  ['an allowed flag of 2', [NOW, 2, 9, 1_000, 0]],
  ['a negative count', [NOW, 1, -1, 1_000, 0]],
  ['a fraction', [NOW, 1, 9.5, 1_000, 0]],
]

function answering(reply: unknown[]): UpstashRedisClient {
  return {
    evalsha: async () => reply,
    eval: async () => reply,
    del: async () => 0,
  }
}

describe('a decision script reply that is not whole numbers', () => {
  for (const [what, reply] of garbage) {
    for (const onStoreError of ['allow', 'deny'] as const) {
      it(`${what}: a store failure under onStoreError '${onStoreError}'`, async () => {
        const failures: unknown[] = []
        const store = upstashStore({ redis: answering(reply), logger: false })
        const limiter = createRateLimiter({
          policies: fixedWindow({ limit: 10, window: '1 m' }),
          store,
          onStoreError,
          onStoreFailure: (error) => void failures.push(error),
          logger: false,
        })
        const d = await limiter.limit('a')
        expect(d).toMatchObject({ reason: 'store-error', allowed: onStoreError === 'allow' })
        expect(failures).toHaveLength(1)
        expect(failures[0]).toMatchObject({ code: 'ERR_FLOODGATE_STORE_ERROR' })
        const policies = [fixedWindow({ limit: 10, window: '1 m' })]
        await expect(
          store.consume({ prefix: 'p', id: 'a', policies, cost: 1, peek: false }),
        ).rejects.toMatchObject({
          code: 'ERR_FLOODGATE_STORE_ERROR',
        })
      })
    }
  }

  it('a reply of whole numbers is a decision', async () => {
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 10, window: '1 m' }),
      store: upstashStore({ redis: answering([NOW, 1, 9, 60_000, 0]), logger: false }),
      logger: false,
    })
    expect(await limiter.limit('a')).toMatchObject({ allowed: true, remaining: 9, resetAtMs: NOW + 60_000 })
  })

  it('a reply of whole numbers as strings, a reset of now, a wait of -1 (never): each is a decision', async () => {
    const replies: [unknown[], object][] = [
      [[String(NOW), '1', '9', '60000', '0'], { allowed: true, remaining: 9, resetAtMs: NOW + 60_000 }],
      [[String(NOW), '0', '0', '60000', '60000'], { allowed: false, remaining: 0, retryAfterMs: 60_000 }],
      // A full bucket is full again now (a peek before any request).
      [[NOW, 1, 10, 0, 0], { allowed: true, remaining: 10, resetAtMs: NOW }],
      // -1 stands for a wait that never ends: a cost over the limit.
      [
        [NOW, 0, 10, 60_000, -1],
        { allowed: false, reason: 'cost-exceeds-limit', retryAfterMs: Number.POSITIVE_INFINITY },
      ],
    ]
    for (const [reply, decision] of replies) {
      const limiter = createRateLimiter({
        policies: fixedWindow({ limit: 10, window: '1 m' }),
        store: upstashStore({ redis: answering(reply), logger: false }),
        onStoreError: 'deny',
        logger: false,
      })
      expect(await limiter.limit('a')).toMatchObject(decision)
    }
  })

  it('names every value of the outcome it could not read', async () => {
    const failures: Error[] = []
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 10, window: '1 m' }),
      store: upstashStore({ redis: answering([NOW, 1, 9, 1_000, -2]), logger: false }),
      onStoreFailure: (error) => void failures.push(error),
      logger: false,
    })
    await limiter.limit('a')
    expect(failures[0]!.message).toContain(`answered [${NOW},1,9,1000,-2]`)
  })
})

describe('a client whose commands return no promise (a callback-style client)', () => {
  it('fails the decision and the reset as store errors, and nothing is thrown out of the tick', async () => {
    const callbackStyle = {
      evalsha: () => undefined,
      eval: () => undefined,
      del: () => undefined,
    } as unknown as UpstashRedisClient
    const failures: unknown[] = []
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 10, window: '1 m' }),
      store: upstashStore({ redis: callbackStyle, logger: false }),
      onStoreError: 'deny',
      onStoreFailure: (error) => void failures.push(error),
      logger: false,
      timeout: '5 s',
    })
    // Two in one tick, sent together from a promise job: a throw there would be an unhandled rejection.
    const decisions = await Promise.all([limiter.limit('a'), limiter.limit('b')])
    for (const d of decisions) expect(d).toMatchObject({ reason: 'store-error', allowed: false })
    expect(failures).toHaveLength(2)
    expect(failures[0]).toMatchObject({ code: 'ERR_FLOODGATE_STORE_ERROR' })
    expect(String((failures[0] as Error).message)).toMatch(/returned undefined instead of a promise/)
    // A reset that deleted nothing must not resolve as if it had.
    await expect(limiter.reset('a')).rejects.toMatchObject({ code: 'ERR_FLOODGATE_STORE_ERROR' })
  })
})

type ScriptCall = (script: string, keys: string[], args: string[]) => Promise<unknown>

/** A limiter of 10 a minute, failing closed, on a stand-in client whose every script call is `run`. */
function limiterOn(run: ScriptCall) {
  const failures: unknown[] = []
  const limiter = createRateLimiter({
    policies: fixedWindow({ limit: 10, window: '1 m' }),
    store: upstashStore({ redis: { evalsha: run, eval: run, del: async () => 0 }, logger: false }),
    onStoreError: 'deny',
    onStoreFailure: (error) => void failures.push(error),
    logger: false,
    timeout: '2 s',
  })
  return { limiter, failures }
}

describe('a decision script reply that is not an array of the expected length', () => {
  for (const [what, reply] of [
    ['null', null],
    ['a string', 'OK'],
    ['a number', 42],
    ['an array of 2 numbers', [NOW, 1]],
    ['an array one short', [NOW, 1, 9, 60_000]],
    ['an array one long', [NOW, 1, 9, 60_000, 0, 0]],
  ] as const) {
    it(`${what}: a store error at once, sent once, not a wait for the deadline`, async () => {
      let sent = 0
      const { limiter, failures } = limiterOn(async () => {
        sent++
        return reply
      })
      expect(await limiter.limit('a')).toMatchObject({ reason: 'store-error', allowed: false })
      expect(failures).toHaveLength(1)
      expect(failures[0]).toMatchObject({ code: 'ERR_FLOODGATE_STORE_ERROR' })
      expect(sent).toBe(1)
    })
  }
})

describe("the script's answer that it ran past the deadline ([-1, server time])", () => {
  it('before the local deadline: the batch is sent once more (Redis counted nothing), and decided', async () => {
    const replies: unknown[] = [
      [-1, NOW],
      [NOW, 1, 9, 60_000, 0],
    ]
    const deadlines: string[] = []
    let sent = 0
    const { limiter } = limiterOn(async (_script, _keys, args) => {
      deadlines.push(args[2]!)
      return replies[sent++]
    })
    expect(await limiter.limit('a')).toMatchObject({ allowed: true, reason: 'allowed', remaining: 9 })
    expect(sent).toBe(2)
    // The skip's server time is learned again: the command sent again carries a deadline on it.
    expect(deadlines[0]).toBe('0')
    expect(Number(deadlines[1])).toBeGreaterThanOrEqual(NOW + 1_900)
    expect(Number(deadlines[1])).toBeLessThan(NOW + 3_000)
  })

  it('answered twice: a store timeout, never a decision nor a third send', async () => {
    let sent = 0
    const { limiter, failures } = limiterOn(async () => {
      sent++
      return [-1, NOW]
    })
    expect(await limiter.limit('a')).toMatchObject({ reason: 'store-error', allowed: false })
    expect(sent).toBe(2)
    expect(failures[0]).toMatchObject({ code: 'ERR_FLOODGATE_STORE_TIMEOUT' })
  })
})

describe("the decision's deadline on the server clock", () => {
  it('is none before any reply, then the limiter deadline mapped with the time the last reply gave', async () => {
    const deadlines: unknown[] = []
    const { limiter } = limiterOn(async (_script, _keys, args) => {
      deadlines.push(args[2])
      return [NOW, 1, 9, 60_000, 0]
    })
    await limiter.limit('a')
    await limiter.limit('a')
    expect(deadlines[0]).toBe('0')
    // Redis's clock read NOW at the first call: the second call's 2 s deadline lands about 2 s past it.
    const second = Number(deadlines[1])
    expect(second).toBeGreaterThanOrEqual(NOW + 1_900)
    expect(second).toBeLessThan(NOW + 3_000)
  })
})

/** A store request for `id`: one fixed window of 10 a minute. */
const storeRequest = (id: string) => ({
  prefix: 'p',
  id,
  policies: [fixedWindow({ limit: 10, window: '1 m' })],
  cost: 1,
  peek: false,
})

/** Follows a call without awaiting it: `value` is 'answered', or its error, once it settles. */
function follow(call: unknown): { value: unknown } {
  const outcome: { value: unknown } = { value: undefined }
  Promise.resolve(call).then(
    () => {
      outcome.value = 'answered'
    },
    (error: unknown) => {
      outcome.value = error
    },
  )
  return outcome
}

describe('a TRYAGAIN answered after the store was closed', () => {
  it('fails the call at once instead of leaving it to wait for a send that never comes', async () => {
    let refuse!: (error: Error) => void
    const store = upstashStore({
      redis: {
        evalsha: () =>
          new Promise((_resolve, reject) => {
            refuse = reject
          }),
        eval: async () => [NOW, 1, 9, 60_000, 0],
        del: async () => 0,
      },
      logger: false,
    })
    const outcome = follow(store.consume(storeRequest('a')))
    await Promise.resolve() // the batch goes out
    store.close()
    refuse(new Error('TRYAGAIN Multiple keys request during rehashing of slot'))
    await new Promise((resolve) => setImmediate(resolve)) // one turn of the loop: no timer ran
    expect(outcome.value).toMatchObject({
      code: 'ERR_FLOODGATE_STORE_ERROR',
      message: expect.stringContaining('closed while a call waited to be sent again'),
    })
  })
})

describe('a command the client failed', () => {
  it('is waited on no more: a quiet spell after it does not take Redis for silent', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setImmediate', 'performance'] })
    try {
      let sent = 0
      const run = async () => {
        if (sent++ === 0) throw new Error('ERR Error running script')
        return [NOW, 1, 9, 60_000, 0]
      }
      const store = redisStore({ client: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
      const request = storeRequest('a')
      await expect(store.consume(request)).rejects.toThrow('ERR Error running script')
      // The watchdog looks while a command waits: none does, so the quiet spell is no silence.
      await vi.advanceTimersByTimeAsync(3 * STALL_MS)
      await expect(store.consume(request)).resolves.toMatchObject({ nowMs: NOW })
      store.close()
    } finally {
      vi.useRealTimers()
    }
  })
})

describe("the client's own command timeout (ioredis commandTimeout)", () => {
  it('bounds the deadline on the server clock of a call with no limiter deadline', async () => {
    const deadlines: unknown[] = []
    const run = async (_sha: string, _numKeys: number, _keys: string[], args: string[]) => {
      deadlines.push(args[2])
      return [NOW, 1, 9, 60_000, 0]
    }
    const client = { evalsha: run, eval: run, del: async () => 0, options: { commandTimeout: 500 } }
    const store = redisStore({ client: client as unknown as RedisClient, logger: false })
    const request = storeRequest('a')
    await store.consume(request)
    await store.consume(request)
    expect(deadlines[0]).toBe('0')
    // Redis's clock read NOW at the first call: the second call's 500 ms timeout lands about 500 ms past it.
    const second = Number(deadlines[1])
    expect(second).toBeGreaterThanOrEqual(NOW + 400)
    expect(second).toBeLessThan(NOW + 1_500)
    store.close()
  })
})

describe("node-redis's commandOptions.timeout, which stops applying once a command is written", () => {
  it('fails a call Redis never answers as a store timeout, the store timing the reply itself', async () => {
    vi.useFakeTimers()
    try {
      const never = () => new Promise<unknown>(() => {})
      const client = {
        evalSha: never,
        eval: never,
        del: never,
        options: { commandOptions: { timeout: 100 } },
      }
      const store = redisStore({ client: client as unknown as RedisClient, logger: false })
      const request = storeRequest('a')
      const outcome = follow(store.consume(request))
      await vi.advanceTimersByTimeAsync(99)
      expect(outcome.value).toBeUndefined()
      await vi.advanceTimersByTimeAsync(1)
      expect(outcome.value).toMatchObject({ code: 'ERR_FLOODGATE_STORE_TIMEOUT' })
      store.close()
    } finally {
      vi.useRealTimers()
    }
  })
})

describe("a reset's DEL answered TRYAGAIN", () => {
  it('goes again while no decision on its keys was sent after it, and resolves once Redis deletes', async () => {
    let dels = 0
    const store = upstashStore({
      redis: {
        evalsha: async () => [NOW, 1, 9, 60_000, 0],
        eval: async () => [NOW, 1, 9, 60_000, 0],
        del: async () => {
          if (dels++ === 0) throw new Error('TRYAGAIN Multiple keys request during rehashing of slot')
          return 1
        },
      },
      logger: false,
    })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const reset = store.reset({
        prefix: 'p',
        id: 'a',
        policies: [fixedWindow({ limit: 10, window: '1 m' })],
      })
      await vi.advanceTimersByTimeAsync(TRYAGAIN_DELAY_MS - 1)
      expect(dels).toBe(1)
      await vi.advanceTimersByTimeAsync(1)
      await reset
      expect(dels).toBe(2)
    } finally {
      vi.useRealTimers()
      store.close()
    }
  })
})

describe('a silent Redis whose client lets go of the command (its own timeout)', () => {
  it('is sent calls again once nothing waits, though it never answered', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setImmediate', 'performance'] })
    try {
      let sent = 0
      let giveUp!: (error: Error) => void
      const run = () => {
        if (sent++ > 0) return Promise.resolve([NOW, 1, 9, 60_000, 0])
        return new Promise<unknown>((_resolve, reject) => {
          giveUp = reject
        })
      }
      const store = redisStore({ client: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
      const request = storeRequest('a')
      const hung = expect(store.consume(request)).rejects.toThrow('Command timed out')
      await vi.advanceTimersByTimeAsync(2 * STALL_MS)
      await expect(store.consume(request)).rejects.toMatchObject({ code: 'ERR_FLOODGATE_STORE_ERROR' })
      giveUp(new Error('Command timed out'))
      await hung
      await vi.advanceTimersByTimeAsync(STALL_MS)
      await expect(store.consume(request)).resolves.toMatchObject({ nowMs: NOW })
      store.close()
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('the silence of one Redis connection, which answers in order', () => {
  it('is timed from the oldest command waiting, however many were sent since', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setImmediate', 'performance'] })
    try {
      const never = () => new Promise<unknown>(() => {})
      const client = { evalsha: never, eval: never, del: never } as unknown as RedisClient
      const store = redisStore({ client, logger: false })
      const request = storeRequest
      follow(store.consume(request('a')))
      await vi.advanceTimersByTimeAsync(STALL_MS * 0.6)
      follow(store.consume(request('b')))
      await vi.advanceTimersByTimeAsync(STALL_MS * 0.6)
      const outcome = follow(store.consume(request('c')))
      await vi.advanceTimersByTimeAsync(0)
      expect(outcome.value).toMatchObject({
        code: 'ERR_FLOODGATE_STORE_ERROR',
        message: expect.stringContaining('has answered none of the 2 commands waiting'),
      })
      store.close()
    } finally {
      vi.useRealTimers()
    }
  })
})

describe("the limiter on the script's path", () => {
  it('tells the recovery when the script answers again, and no failure when the deadline passes after an answer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] })
    try {
      const state = { down: true }
      const reply = async () => {
        if (state.down) throw new Error('connection refused')
        return [NOW, 1, 9, 60_000, 0]
      }
      const lines: string[] = []
      const failures: unknown[] = []
      const limiter = createRateLimiter({
        policies: fixedWindow({ limit: 10, window: '1 m' }),
        store: upstashStore({ redis: { evalsha: reply, eval: reply, del: async () => 0 }, logger: false }),
        onStoreFailure: (error) => void failures.push(error),
        logger: { warn: (line) => lines.push(line) },
      })
      expect(await limiter.limit('a')).toMatchObject({ reason: 'store-error' })
      state.down = false
      expect(await limiter.limit('a')).toMatchObject({ allowed: true, remaining: 9 })
      // The answered call's deadline passes: nothing more is reported.
      await vi.advanceTimersByTimeAsync(1_000)
      expect(failures).toHaveLength(1)
      expect(lines.map((line) => /WARN_FLOODGATE_STORE_(\w+)/.exec(line)?.[1])).toEqual([
        'FAILURE',
        'RECOVERED',
      ])
    } finally {
      vi.useRealTimers()
    }
  })
})
