import { findFreePort } from '@floodgate/tools'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { SUBMIT, type SubmittingStore } from '../queued-call.js'
import { type UpstashRedisClient, upstashStore } from '../upstash/upstash-store.js'
import type { RedisClient } from './clients.js'
import { cachedDigest, clusterSlot } from './keys.js'
import { redisStore } from './redis-store.js'
import { STALL_MS, TRYAGAIN_DELAY_MS, WATCH_EVERY_MS } from './script-store.js'
import { follow, heldCalls, steps, storeRequest } from './test-fixtures/store-calls.js'

// The decision script answers whole numbers. A reply of the right length holding anything else (a
// proxy's garbage, another program's keys) is a store failure that follows onStoreError, on the
// limiter's own path and through the store's `consume`; never a decision made of NaN. The client is
// a stand-in here: what is under test is what the store does with what a client hands it.

const NOW = 1_800_000_000_000
/** The fakes that move the stall watchdog: its interval, its setImmediate look, its clock. */
const WATCHDOG_TIMERS: NonNullable<Parameters<typeof vi.useFakeTimers>[0]>['toFake'] = [
  'setInterval',
  'clearInterval',
  'setImmediate',
  'performance',
]

/** An Upstash store whose decisions all answer at once, and whose reset's DEL is `del`. */
function storeWithDel(del: () => Promise<number>) {
  const answer = async () => [NOW, 1, 9, 60_000, 0]
  return upstashStore({ redis: { evalsha: answer, eval: answer, del }, logger: false })
}

// Every test that fakes timers is given the real ones back, whether it passed or failed.
afterEach(() => {
  vi.useRealTimers()
})

const garbage: [string, unknown[]][] = [
  ['strings', [NOW, 'x', 'x', 'x', 'x']],
  ['nulls', [NOW, null, null, null, null]],
  ['a time that is not a number', ['x', 1, 9, 1_000, 0]],
  ['an allowed flag of 2', [NOW, 2, 9, 1_000, 0]],
  ['a negative count', [NOW, 1, -1, 1_000, 0]],
  ['a fraction', [NOW, 1, 9.5, 1_000, 0]],
  ['a negative reset', [NOW, 1, 9, -1, 0]],
  ['an empty string as a count', [NOW, 1, '', 1_000, 0]],
]

/**
 * An Upstash store whose EVALSHA waits until the test refuses it (`refuse(error)`); its EVAL, a
 * resend after NOSCRIPT, answers an admission and is counted (`evals()`); DEL answers `deleted`.
 */
function heldEvalsha(deleted = 0) {
  let refuse!: (error: Error) => void
  let evals = 0
  const store = upstashStore({
    redis: {
      evalsha: () =>
        new Promise((_resolve, reject) => {
          refuse = reject
        }),
      eval: async () => {
        evals++
        return [NOW, 1, 9, 60_000, 0]
      },
      del: async () => deleted,
    },
    logger: false,
  })
  return { store, refuse: (error: Error) => refuse(error), evals: () => evals }
}

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

  it('quotes at most 80 characters of a long reply it could not read', async () => {
    const failures: Error[] = []
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 10, window: '1 m' }),
      store: upstashStore({ redis: answering([NOW, 'x'.repeat(10_000), 9, 1_000, 0]), logger: false }),
      onStoreFailure: (error) => void failures.push(error),
      logger: false,
    })
    await limiter.limit('a')
    // `[1800000000000,"` is 16 characters: 64 of the reply's are left.
    expect(failures[0]!.message).toContain(`answered [${NOW},"${'x'.repeat(64)}; expected whole numbers.`)
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

describe('a client that throws when handed a command', () => {
  it('fails that call, holds nothing for it, and takes the connection for silent no later', async () => {
    vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
    let sent = 0
    const run = () => {
      if (sent++ === 0) throw new Error('Connection is closed.')
      return Promise.resolve([NOW, 1, 9, 60_000, 0])
    }
    const store = redisStore({ client: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
    const thrown = follow(store.consume(storeRequest('a')))
    await vi.advanceTimersByTimeAsync(0)
    expect(thrown.value).toMatchObject({ message: 'Connection is closed.' })
    expect((store as unknown as { commandsHeld: number }).commandsHeld).toBe(0)
    await vi.advanceTimersByTimeAsync(2 * STALL_MS)
    const outcome = follow(store.consume(storeRequest('b')))
    await vi.advanceTimersByTimeAsync(0)
    expect(outcome.value).toBe('answered')
    expect(sent).toBe(2)
    store.close()
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

describe("the decision's deadline under a test's fake timers", () => {
  it('is none: no deadline passes in real time there', async () => {
    vi.useFakeTimers()
    const deadlines: unknown[] = []
    const { limiter } = limiterOn(async (_script, _keys, args) => {
      deadlines.push(args[2])
      return [NOW, 1, 9, 60_000, 0]
    })
    await limiter.limit('a')
    await limiter.limit('a')
    expect(deadlines).toEqual(['0', '0'])
  })
})

describe('a TRYAGAIN answered after the store was closed', () => {
  it('fails the call at once instead of leaving it to wait for a send that never comes', async () => {
    const { store, refuse } = heldEvalsha()
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
    vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
    let sent = 0
    const run = async () => {
      if (sent++ === 0) throw new Error('ERR Error running script')
      return [NOW, 1, 9, 60_000, 0]
    }
    const store = redisStore({ client: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
    const request = storeRequest('a')
    await expect(store.consume(request)).rejects.toThrow('ERR Error running script')
    expect((store as unknown as { commandsHeld: number }).commandsHeld).toBe(0)
    // The watchdog looks while a command waits: none does, so the quiet spell is no silence.
    await vi.advanceTimersByTimeAsync(3 * STALL_MS)
    await expect(store.consume(request)).resolves.toMatchObject({ nowMs: NOW })
    store.close()
  })
})

describe("node-redis's commandOptions.timeout, which stops applying once a command is written", () => {
  it('fails a call Redis never answers as a store timeout, the store timing the reply itself', async () => {
    vi.useFakeTimers()
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
  })
})

describe("a reset's DEL answered TRYAGAIN", () => {
  it('goes again while no decision on its keys was sent after it, and resolves once Redis deletes', async () => {
    let dels = 0
    const store = storeWithDel(async () => {
      if (dels++ === 0) throw new Error('TRYAGAIN Multiple keys request during rehashing of slot')
      return 1
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
      store.close()
    }
  })
})

describe('a silent Redis whose client lets go of the command (its own timeout)', () => {
  it('is sent calls again once nothing waits, though it never answered', async () => {
    vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
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
  })
})

describe('the silence of one Redis connection, which answers in order', () => {
  it('is timed from the oldest command waiting, however many were sent since', async () => {
    vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
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
  })
})

describe("the limiter on the script's path", () => {
  it('tells the recovery when the script answers again, and no failure when the deadline passes after an answer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] })
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
  })
})

/** A Cluster's node for a hash slot: the lower half on one, the upper half on another. */
const nodeOfSlot = (slot: number) => (slot < 8_192 ? '127.0.0.1:7000' : '127.0.0.1:7001')
const slotOf = (id: string) => clusterSlot(cachedDigest(id))

/** Stand-ins for an ioredis Cluster and a node-redis cluster whose every script call is `run`. */
function clusterClients(run: (keys: string[], args: string[]) => Promise<unknown>): [string, RedisClient][] {
  const ioredis = {
    isCluster: true,
    options: { enableOfflineQueue: false, retryDelayOnFailover: 0 },
    slots: Array.from({ length: 16_384 }, (_, slot) => [nodeOfSlot(slot)]),
    evalsha: (_sha: string, _numKeys: number, keys: string[], args: string[]) => run(keys, args),
    eval: (_script: string, _numKeys: number, keys: string[], args: string[]) => run(keys, args),
    del: async () => 0,
  }
  const nodeRedis = {
    options: { rootNodes: [], defaults: { disableOfflineQueue: true } },
    slots: Array.from({ length: 16_384 }, (_, slot) => ({ master: { address: nodeOfSlot(slot) } })),
    evalSha: (_sha: string, { keys, arguments: args }: { keys: string[]; arguments: string[] }) =>
      run(keys, args),
    eval: (_script: string, { keys, arguments: args }: { keys: string[]; arguments: string[] }) =>
      run(keys, args),
    del: async () => 0,
  }
  return [
    ['an ioredis Cluster', ioredis as unknown as RedisClient],
    ['a node-redis cluster', nodeRedis as unknown as RedisClient],
  ]
}

describe('the silence of a Cluster node, as the client tells the node of each hash slot', () => {
  const never = () => new Promise<unknown>(() => {})
  for (const [name, client] of clusterClients(never)) {
    it(`${name}: refuses calls to every slot of the silent node, and only those`, async () => {
      // d and e: two slots of the first node; c: a slot of the second.
      expect(slotOf('d')).not.toBe(slotOf('e'))
      expect([slotOf('d'), slotOf('e'), slotOf('c')].map(nodeOfSlot)).toEqual([
        '127.0.0.1:7000',
        '127.0.0.1:7000',
        '127.0.0.1:7001',
      ])
      vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
      const store = redisStore({ client, logger: false })
      const request = storeRequest
      follow(store.consume(request('d')))
      await vi.advanceTimersByTimeAsync(2 * STALL_MS)
      const outcomes: Record<string, unknown> = {}
      for (const id of ['e', 'c']) {
        Promise.resolve(store.consume(request(id))).then(
          () => {
            outcomes[id] = 'answered'
          },
          (error: unknown) => {
            outcomes[id] = error
          },
        )
      }
      await vi.advanceTimersByTimeAsync(0)
      expect(outcomes.e).toMatchObject({
        code: 'ERR_FLOODGATE_STORE_ERROR',
        message: expect.stringContaining("The Redis node of this identifier's hash slot has answered none"),
      })
      // The other node's call went out, and waits for its reply.
      expect(outcomes.c).toBeUndefined()
      // The refusal counts the silent node's commands waiting (d), not the other node's (c).
      const again = follow(store.consume(request('e')))
      await vi.advanceTimersByTimeAsync(0)
      expect(again.value).toMatchObject({
        message: expect.stringContaining('has answered none of the 1 commands waiting'),
      })
      store.close()
    })
  }
})

describe("the server's clock on a Cluster, learned per hash slot", () => {
  it("maps a slot's deadline with the clock its own node gave, not the clock of the node heard from last", async () => {
    const AHEAD_MS = 10_000
    const deadlines: [string, string][] = []
    const [ioredis] = clusterClients(async (keys, args) => {
      const far = keys[0]!.includes(`{${cachedDigest('far')}}`)
      deadlines.push([far ? 'far' : 'near', args[2]!])
      return [far ? NOW + AHEAD_MS : NOW, 1, 9, 60_000, 0]
    })
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 10, window: '1 m' }),
      store: redisStore({ client: ioredis![1], logger: false }),
      logger: false,
      timeout: '2 s',
    })
    for (const id of ['near', 'far', 'near', 'far']) await limiter.limit(id)
    expect(deadlines.map(([id]) => id)).toEqual(['near', 'far', 'near', 'far'])
    expect(deadlines[0]![1]).toBe('0')
    // The far slot's first call, before any reply of its node: mapped with the near node's clock.
    const seeded = Number(deadlines[1]![1])
    expect(seeded).toBeGreaterThanOrEqual(NOW + 1_900)
    expect(seeded).toBeLessThan(NOW + 3_000)
    // The near node's clock read NOW: its second call's 2 s deadline lands about 2 s past it; the
    // far node's, about 2 s past NOW + AHEAD_MS.
    const near = Number(deadlines[2]![1])
    expect(near).toBeGreaterThanOrEqual(NOW + 1_900)
    expect(near).toBeLessThan(NOW + 3_000)
    const far = Number(deadlines[3]![1])
    expect(far).toBeGreaterThanOrEqual(NOW + AHEAD_MS + 1_900)
    expect(far).toBeLessThan(NOW + AHEAD_MS + 3_000)
  })
})

describe("node-redis 4's cluster, whose options are private: commands routed by their first key", () => {
  it("sends decisions and resets through sendCommand, keyed by the identifier's first key, as writes", async () => {
    const sent: { key: unknown; readonly: unknown; args: string[] }[] = []
    const client = {
      getMasters: () => [],
      evalSha: async () => {
        throw new Error('routed by a key it never finds')
      },
      eval: async () => {
        throw new Error('routed by a key it never finds')
      },
      del: async () => {
        throw new Error('routed by a key it never finds')
      },
      sendCommand: async (key: unknown, readonly: unknown, args: string[]) => {
        sent.push({ key, readonly, args })
        return args[0] === 'EVALSHA' ? [NOW, 1, 9, 60_000, 0, 1, 99, 3_600_000, 0] : 1
      },
    }
    const policies = [
      fixedWindow({ limit: 10, window: '1 m', name: 'minute' }),
      fixedWindow({ limit: 100, window: '1 h', name: 'hour' }),
    ]
    const limiter = createRateLimiter({
      policies,
      store: redisStore({ client: client as unknown as RedisClient, logger: false }),
      logger: false,
    })
    expect(await limiter.limit('a')).toMatchObject({ reason: 'allowed' })
    await limiter.reset('a')
    expect(sent.map(({ args }) => args[0])).toEqual(['EVALSHA', 'EVAL'])
    for (const { key, readonly, args } of sent) {
      expect(args[2]).toBe('2')
      expect(key).toBe(args[3])
      expect(String(key)).toContain(`{${cachedDigest('a')}}`)
      expect(readonly).toBe(false)
    }
  })
})

describe('a decision answered TRYAGAIN', () => {
  it('goes again after TRYAGAIN_DELAY_MS, and is decided by the reply', async () => {
    let sent = 0
    const run = async () => {
      if (sent++ === 0) throw new Error('TRYAGAIN Multiple keys request during rehashing of slot')
      return [NOW, 1, 9, 60_000, 0]
    }
    const store = upstashStore({ redis: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      let outcome: unknown
      Promise.resolve(store.consume(storeRequest('a'))).then(
        (response) => {
          outcome = response
        },
        (error: unknown) => {
          outcome = error
        },
      )
      await vi.advanceTimersByTimeAsync(TRYAGAIN_DELAY_MS - 1)
      expect(sent).toBe(1)
      expect(outcome).toBeUndefined()
      await vi.advanceTimersByTimeAsync(1)
      expect(sent).toBe(2)
      expect(outcome).toMatchObject({ nowMs: NOW, outcomes: [{ allowed: true, remaining: 9 }] })
    } finally {
      store.close()
    }
  })
})

describe("a reset's DEL that Redis failed with another error than TRYAGAIN", () => {
  it('rejects at once with it, sent once', async () => {
    let dels = 0
    const store = storeWithDel(async () => {
      dels++
      throw new Error('ERR unknown command')
    })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const outcome = follow(
        store.reset({ prefix: 'p', id: 'a', policies: [fixedWindow({ limit: 10, window: '1 m' })] }),
      )
      await vi.advanceTimersByTimeAsync(0)
      expect(outcome.value).toMatchObject({ message: 'ERR unknown command' })
      expect(dels).toBe(1)
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      store.close()
    }
  })
})

describe("a reset's DEL answered TRYAGAIN after a decision on its keys was sent", () => {
  for (const resets of [1, 2]) {
    it(`does not go again (it could wipe that decision), and fails: ${resets} reset(s) of the keys pending`, async () => {
      let dels = 0
      const refusals: ((error: Error) => void)[] = []
      const store = storeWithDel(() => {
        dels++
        return new Promise<number>((_resolve, reject) => {
          refusals.push(reject)
        })
      })
      const policies = [fixedWindow({ limit: 10, window: '1 m' })]
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
      try {
        const outcomes: Promise<unknown>[] = []
        for (let i = 0; i < resets; i++) {
          outcomes.push(
            Promise.resolve(store.reset({ prefix: 'p', id: 'a', policies })).then(
              () => 'resolved',
              (error: unknown) => error,
            ),
          )
        }
        await store.consume({ prefix: 'p', id: 'a', policies, cost: 1, peek: false })
        for (const refuse of refusals)
          refuse(new Error('TRYAGAIN Multiple keys request during rehashing of slot'))
        await vi.advanceTimersByTimeAsync(10 * TRYAGAIN_DELAY_MS)
        expect(dels).toBe(resets)
        for (const outcome of outcomes) {
          expect(await outcome).toMatchObject({ message: expect.stringMatching(/^TRYAGAIN/) })
        }
      } finally {
        store.close()
      }
    })
  }
})

describe("a reset's DEL answered TRYAGAIN once a decision on its keys went out after it", () => {
  it('fails at once, waiting no retry delay', async () => {
    let refuse!: (error: Error) => void
    const store = storeWithDel(
      () =>
        new Promise<number>((_resolve, reject) => {
          refuse = reject
        }),
    )
    const policies = [fixedWindow({ limit: 10, window: '1 m' })]
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const outcome = follow(store.reset({ prefix: 'p', id: 'a', policies }))
      await store.consume({ prefix: 'p', id: 'a', policies, cost: 1, peek: false })
      refuse(new Error('TRYAGAIN Multiple keys request during rehashing of slot'))
      await vi.advanceTimersByTimeAsync(0)
      expect(outcome.value).toMatchObject({ message: expect.stringMatching(/^TRYAGAIN/) })
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      store.close()
    }
  })
})

describe("a reply that comes after the store's reply timeout failed the call", () => {
  for (const [what, late] of [
    ['a decision', [NOW, 1, 9, 60_000, 0]],
    ["the script's answer that it ran past the deadline", [-1, NOW]],
  ] as const) {
    it(`${what}: ignored, and nothing is sent again`, async () => {
      vi.useFakeTimers()
      let sent = 0
      let answer!: (reply: unknown) => void
      const run = () => {
        sent++
        return new Promise<unknown>((resolve) => {
          answer = resolve
        })
      }
      const client = { evalSha: run, eval: run, del: run, options: { commandOptions: { timeout: 100 } } }
      const store = redisStore({ client: client as unknown as RedisClient, logger: false })
      const request = storeRequest('a')
      const outcome = Promise.resolve(store.consume(request)).then(
        () => 'answered',
        (error: unknown) => error,
      )
      await vi.advanceTimersByTimeAsync(100)
      expect(await outcome).toMatchObject({ code: 'ERR_FLOODGATE_STORE_TIMEOUT' })
      answer(late)
      await vi.advanceTimersByTimeAsync(1_000)
      expect(sent).toBe(1)
      store.close()
    })
  }
})

describe("a refusal (NOSCRIPT, TRYAGAIN) that comes after the store's reply timeout failed the call", () => {
  for (const refusal of [
    'NOSCRIPT No matching script. Please use EVAL.',
    'TRYAGAIN Multiple keys request during rehashing of slot',
  ]) {
    it(`${refusal.split(' ')[0]}: nothing is sent again, and the call stays a store timeout`, async () => {
      vi.useFakeTimers()
      const sent: string[] = []
      let refuse!: (error: Error) => void
      const client = {
        evalSha: () => {
          sent.push('evalsha')
          return new Promise<unknown>((_resolve, reject) => {
            refuse = reject
          })
        },
        eval: async () => {
          sent.push('eval')
          return [NOW, 1, 9, 60_000, 0]
        },
        del: async () => 0,
        options: { commandOptions: { timeout: 100 } },
      }
      const store = redisStore({ client: client as unknown as RedisClient, logger: false })
      const outcome = follow(store.consume(storeRequest('a')))
      await vi.advanceTimersByTimeAsync(100)
      expect(outcome.value).toMatchObject({ code: 'ERR_FLOODGATE_STORE_TIMEOUT' })
      refuse(new Error(refusal))
      await vi.advanceTimersByTimeAsync(10 * TRYAGAIN_DELAY_MS)
      expect(sent).toEqual(['evalsha'])
      expect(outcome.value).toMatchObject({ code: 'ERR_FLOODGATE_STORE_TIMEOUT' })
      store.close()
    })
  }
})

describe('a batch Redis refused with NOSCRIPT once every call of it was answered (its deadline passed)', () => {
  it('is not sent again: nobody waits for it, and it could only count them', async () => {
    const { store, refuse, evals } = heldEvalsha()
    const policies = [fixedWindow({ limit: 10, window: '1 m' })]
    const answers: unknown[] = []
    // The limiter's call as it is once its deadline answered it: `settled`.
    const call = {
      atMs: 0,
      settled: false,
      respond: () => void answers.push('respond'),
      fail: (error: unknown) => void answers.push(error),
    }
    ;(store as unknown as SubmittingStore)[SUBMIT]('p', 'a', policies, 1, false, call)
    await Promise.resolve() // the batch goes out
    call.settled = true
    refuse(new Error('NOSCRIPT No matching script. Please use EVAL.'))
    await new Promise((resolve) => setImmediate(resolve))
    expect(evals()).toBe(0)
    expect(answers).toEqual([expect.objectContaining({ message: expect.stringMatching(/^NOSCRIPT/) })])
    store.close()
  })
})

describe("a decision answered before the store's reply timeout", () => {
  it('leaves no reply timer behind', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const run = async () => [NOW, 1, 9, 60_000, 0]
    const client = { evalSha: run, eval: run, del: run, options: { commandOptions: { timeout: 100 } } }
    const store = redisStore({ client: client as unknown as RedisClient, logger: false })
    await store.consume(storeRequest('a'))
    expect(vi.getTimerCount()).toBe(0)
    store.close()
  })
})

describe("a reply that comes after the store's reply timeout failed the call, on the store's own path", () => {
  it('answers the call nothing more', async () => {
    vi.useFakeTimers()
    let answer!: (reply: unknown) => void
    const run = () =>
      new Promise<unknown>((resolve) => {
        answer = resolve
      })
    const client = { evalSha: run, eval: run, del: run, options: { commandOptions: { timeout: 100 } } }
    const store = redisStore({ client: client as unknown as RedisClient, logger: false })
    const answers: unknown[] = []
    ;(store as unknown as SubmittingStore)[SUBMIT](
      'p',
      'a',
      [fixedWindow({ limit: 10, window: '1 m' })],
      1,
      false,
      {
        atMs: 0,
        respond: () => void answers.push('respond'),
        fail: (error: unknown) => void answers.push(error),
      },
    )
    await vi.advanceTimersByTimeAsync(100)
    answer([NOW, 1, 9, 60_000, 0])
    await vi.advanceTimersByTimeAsync(1_000)
    expect(answers).toEqual([expect.objectContaining({ code: 'ERR_FLOODGATE_STORE_TIMEOUT' })])
    store.close()
  })
})

describe("the client's own timeouts: its command timeout, or its socket's, which fails every command on the connection", () => {
  for (const [name, client] of [
    ['ioredis commandTimeout', { options: { commandTimeout: 500 } }],
    ['ioredis socketTimeout', { options: { socketTimeout: 500 } }],
    [
      'node-redis socket.socketTimeout',
      { options: { socket: { socketTimeout: 500, reconnectStrategy: 50 } } },
    ],
  ] as const) {
    it(`${name}: bounds the deadline on the server clock of a call with no limiter deadline`, async () => {
      const deadlines: unknown[] = []
      const ioredisRun = async (_sha: string, _numKeys: number, _keys: string[], args: string[]) => {
        deadlines.push(args[2])
        return [NOW, 1, 9, 60_000, 0]
      }
      const nodeRedisRun = async (_sha: string, { arguments: args }: { arguments: string[] }) => {
        deadlines.push(args[2])
        return [NOW, 1, 9, 60_000, 0]
      }
      const commands = name.startsWith('ioredis')
        ? { evalsha: ioredisRun, eval: ioredisRun }
        : { evalSha: nodeRedisRun, eval: nodeRedisRun }
      const store = redisStore({
        client: { ...commands, del: async () => 0, ...client } as unknown as RedisClient,
        logger: false,
      })
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
  }
})

describe("a call whose deadline passed before Redis ran it (the script's answer [-1, server time])", () => {
  it("fails as a store timeout: not sent again, and the server's clock is not learned from it", async () => {
    const replies: unknown[] = [
      [NOW, 1, 9, 60_000, 0],
      [-1, NOW + 10_000],
      [NOW, 1, 9, 60_000, 0],
    ]
    const deadlines: string[] = []
    let sent = 0
    const run = async (_script: string, _keys: string[], args: string[]) => {
      deadlines.push(args[2]!)
      return replies[sent++]
    }
    const store = upstashStore({ redis: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
    const policies = [fixedWindow({ limit: 10, window: '1 m' })]
    // The store's own path, with the caller's deadline (`performance.now()` ms, 0 for none) as given.
    const submit = (atMs: number) =>
      new Promise<unknown>((resolve, reject) => {
        ;(store as unknown as SubmittingStore)[SUBMIT]('p', 'a', policies, 1, false, {
          atMs,
          respond: (reply) => resolve(reply),
          fail: reject,
        })
      })
    await submit(performance.now() + 2_000)
    await expect(submit(Math.max(1, performance.now() - 1_000))).rejects.toMatchObject({
      code: 'ERR_FLOODGATE_STORE_TIMEOUT',
    })
    expect(sent).toBe(2)
    await submit(performance.now() + 2_000)
    // Mapped with the clock the first reply gave: about 2 s past NOW.
    const third = Number(deadlines[2])
    expect(third).toBeGreaterThanOrEqual(NOW + 1_900)
    expect(third).toBeLessThan(NOW + 3_000)
    store.close()
  })
})

describe('the silence of a connection quiet for a while', () => {
  it('is timed from the first command sent after the quiet spell, not from the last answer before it', async () => {
    vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
    let sent = 0
    const run = () =>
      sent++ === 0 ? Promise.resolve([NOW, 1, 9, 60_000, 0]) : new Promise<unknown>(() => {})
    const store = redisStore({ client: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
    const request = storeRequest
    await store.consume(request('a'))
    await vi.advanceTimersByTimeAsync(3 * STALL_MS)
    follow(store.consume(request('b')))
    await vi.advanceTimersByTimeAsync(STALL_MS / 2)
    const outcome = follow(store.consume(request('c')))
    await vi.advanceTimersByTimeAsync(0)
    // Sent, and waiting for its reply: b has waited only half of STALL_MS.
    expect(outcome.value).toBeUndefined()
    expect(sent).toBe(3)
    store.close()
  })
})

describe('a store closed while a call waits to go again after TRYAGAIN', () => {
  it('fails the call at once', async () => {
    let sent = 0
    const run = async () => {
      sent++
      throw new Error('TRYAGAIN Multiple keys request during rehashing of slot')
    }
    const store = upstashStore({ redis: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const outcome = follow(store.consume(storeRequest('a')))
    await vi.advanceTimersByTimeAsync(0)
    expect(sent).toBe(1)
    store.close()
    await vi.advanceTimersByTimeAsync(0)
    expect(outcome.value).toMatchObject({
      code: 'ERR_FLOODGATE_STORE_ERROR',
      message: expect.stringContaining('closed while a call waited to be sent again'),
    })
    expect(sent).toBe(1)
    expect(vi.getTimerCount()).toBe(0)
  })
})

describe('a store closed while a command waits for its reply', () => {
  it('stops watching the connection: no timer is left running', async () => {
    vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
    const run = () => new Promise<unknown>(() => {})
    const store = redisStore({ client: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
    follow(store.consume(storeRequest('a')))
    await vi.advanceTimersByTimeAsync(0)
    expect(vi.getTimerCount()).toBe(1)
    store.close()
    expect(vi.getTimerCount()).toBe(0)
  })
})

describe('a watchdog armed under real timers that fires while a test has faked setImmediate', () => {
  it("looks with the setImmediate of the moment it was armed, leaving nothing on the test's fake clock", async () => {
    // A stand-in for the real setInterval, so the test fires the watchdog itself (the real one would
    // have it wait WATCH_EVERY_MS): a store of an earlier test, still watching a command never
    // answered, whose interval comes due during a later test.
    const realSetInterval = globalThis.setInterval
    const realClearInterval = globalThis.clearInterval
    let fire: (() => void) | undefined
    globalThis.setInterval = ((callback: () => void) => {
      fire = callback
      return { unref: () => undefined }
    }) as unknown as typeof setInterval
    globalThis.clearInterval = (() => undefined) as typeof clearInterval
    const run = () => new Promise<unknown>(() => {})
    const store = redisStore({ client: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
    try {
      follow(store.consume(storeRequest('a')))
      await new Promise((resolve) => setImmediate(resolve))
      expect(fire).toBeTypeOf('function')
      vi.useFakeTimers({ toFake: ['setImmediate', 'clearImmediate'] })
      fire!()
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      store.close()
      globalThis.setInterval = realSetInterval
      globalThis.clearInterval = realClearInterval
    }
  })
})

describe('a store closed after a call went again following TRYAGAIN', () => {
  it('leaves that call to its reply: only calls still waiting to go again fail', async () => {
    let sent = 0
    let answer!: (reply: unknown) => void
    const run = () => {
      if (sent++ === 0)
        return Promise.reject(new Error('TRYAGAIN Multiple keys request during rehashing of slot'))
      return new Promise<unknown>((resolve) => {
        answer = resolve
      })
    }
    const store = upstashStore({ redis: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const outcome = follow(store.consume(storeRequest('a')))
    await vi.advanceTimersByTimeAsync(TRYAGAIN_DELAY_MS)
    expect(sent).toBe(2)
    store.close()
    await vi.advanceTimersByTimeAsync(0)
    expect(outcome.value).toBeUndefined()
    answer([NOW, 1, 9, 60_000, 0])
    await vi.advanceTimersByTimeAsync(0)
    expect(outcome.value).toBe('answered')
    expect((store as unknown as { commandsHeld: number }).commandsHeld).toBe(0)
  })

  it('a TRYAGAIN answered after the close leaves no timer behind', async () => {
    let refuse!: (error: Error) => void
    const run = () =>
      new Promise<unknown>((_resolve, reject) => {
        refuse = reject
      })
    const store = upstashStore({ redis: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const outcome = follow(store.consume(storeRequest('a')))
    await vi.advanceTimersByTimeAsync(0)
    store.close()
    refuse(new Error('TRYAGAIN Multiple keys request during rehashing of slot'))
    await vi.advanceTimersByTimeAsync(0)
    expect(outcome.value).toMatchObject({ message: expect.stringContaining('closed while a call waited') })
    expect(vi.getTimerCount()).toBe(0)
  })
})

describe('a command that failed while an earlier one waits on the connection', () => {
  for (const [what, error, silent] of [
    ['an error Redis answered is an answer: the connection is not silent', new Error('ERR busy'), false],
    ["the client's timeout is no answer: the connection is silent", new Error('Command timed out'), true],
  ] as const) {
    it(what, async () => {
      vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
      let sent = 0
      const run = () => (sent++ === 1 ? Promise.reject(error) : new Promise<unknown>(() => {}))
      const store = redisStore({ client: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
      follow(store.consume(storeRequest('a')))
      await vi.advanceTimersByTimeAsync(0.9 * STALL_MS)
      const failed = follow(store.consume(storeRequest('b')))
      await vi.advanceTimersByTimeAsync(0.6 * STALL_MS)
      expect(failed.value).toBeInstanceOf(Error)
      // 1.5 STALL_MS since a was sent, 0.6 since b failed.
      const outcome = follow(store.consume(storeRequest('c')))
      await vi.advanceTimersByTimeAsync(0)
      if (silent) expect(outcome.value).toMatchObject({ code: 'ERR_FLOODGATE_STORE_ERROR' })
      else expect(outcome.value).toBeUndefined()
      expect(sent).toBe(silent ? 2 : 3)
      store.close()
    })
  }
})

describe('the silence of Upstash, whose requests are independent', () => {
  it('is timed from the second request sent since its last answer: one lost alone says nothing', async () => {
    vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
    let sent = 0
    const run = () => {
      sent++
      return new Promise<unknown>(() => {})
    }
    const store = upstashStore({ redis: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
    const { call } = steps(store)
    follow(store.consume(storeRequest('a')))
    await vi.advanceTimersByTimeAsync(0.9 * STALL_MS)
    follow(store.consume(storeRequest('b')))
    await vi.advanceTimersByTimeAsync(0.6 * STALL_MS)
    // 1.5 STALL_MS since a was sent, 0.6 since b, the second: not silent yet.
    expect(await call('c')).toBe('sent')
    expect(sent).toBe(3)
    store.close()
  })
})

describe('the silence of a connection that answers', () => {
  it('is timed from its last answer: a command answered late is no silence of those behind it', async () => {
    vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
    const { answers, run } = heldCalls()
    const store = redisStore({ client: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
    const request = storeRequest
    const first = store.consume(request('a'))
    await vi.advanceTimersByTimeAsync(STALL_MS / 2)
    follow(store.consume(request('b')))
    await vi.advanceTimersByTimeAsync(STALL_MS * 0.4)
    answers[0]!([NOW, 1, 9, 60_000, 0])
    await first
    // 1.2 STALL_MS since a was sent, 0.3 since it was answered: b waits behind it, no silence.
    await vi.advanceTimersByTimeAsync(STALL_MS * 0.3)
    const outcome = follow(store.consume(request('c')))
    await vi.advanceTimersByTimeAsync(0)
    expect(outcome.value).toBeUndefined()
    expect(answers).toHaveLength(3)
    store.close()
  })

  it('is watched again after a silence that ended: a second one is found too', async () => {
    vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
    const pending: ((reply: unknown) => void)[] = []
    const run = () =>
      new Promise<unknown>((resolve) => {
        pending.push(resolve)
      })
    const store = redisStore({ client: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
    const request = storeRequest
    const refused = async (id: string) => {
      const outcome = follow(store.consume(request(id)))
      await vi.advanceTimersByTimeAsync(0)
      return outcome.value
    }
    for (const round of [1, 2]) {
      follow(store.consume(request('a')))
      await vi.advanceTimersByTimeAsync(2 * STALL_MS)
      expect(await refused('b'), `round ${round}`).toMatchObject({ code: 'ERR_FLOODGATE_STORE_ERROR' })
      // Redis answers; nothing waits, and the watchdog stops.
      for (const answer of pending.splice(0)) answer([NOW, 1, 9, 60_000, 0])
      await vi.advanceTimersByTimeAsync(2 * STALL_MS)
      expect(vi.getTimerCount(), `round ${round}`).toBe(0)
    }
    store.close()
  })
})

describe('a batch sent again by its source after NOSCRIPT', () => {
  it("carries the same time and TTL slack as the call Redis refused, and the limiter's deadline", async () => {
    const sent: { how: string; args: string[] }[] = []
    let noScript = false
    // Under an injected clock the reply ends with the server's time.
    const reply = [NOW, 1, 9, 60_000, 0, NOW]
    const client = {
      evalsha: async (_sha: string, _numKeys: number, _keys: string[], args: string[]) => {
        sent.push({ how: 'evalsha', args: [...args] })
        if (noScript) throw new Error('NOSCRIPT No matching script. Please use EVAL.')
        return reply
      },
      eval: async (_script: string, _numKeys: number, _keys: string[], args: string[]) => {
        sent.push({ how: 'eval', args: [...args] })
        return reply
      },
      del: async () => 0,
    }
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 10, window: '1 m' }),
      store: redisStore({ client: client as unknown as RedisClient, clock: () => NOW, logger: false }),
      logger: false,
      timeout: '2 s',
    })
    await limiter.limit('a')
    noScript = true
    expect(await limiter.limit('a')).toMatchObject({ allowed: true, remaining: 9 })
    expect(sent.map(({ how }) => how)).toEqual(['evalsha', 'evalsha', 'eval'])
    const [refused, again] = [sent[1]!.args, sent[2]!.args]
    expect(again.slice(0, 2)).toEqual([String(NOW), '60000'])
    expect(again.slice(0, 2)).toEqual(refused.slice(0, 2))
    expect(Number(again[2])).toBeGreaterThanOrEqual(NOW + 1_900)
    expect(Number(again[2])).toBeLessThan(NOW + 3_000)
  })
})

describe('a batch Redis refused with NOSCRIPT after a reset of its keys was sent', () => {
  it('is not sent again (it would count after the reset), and fails', async () => {
    const { store, refuse, evals } = heldEvalsha(1)
    const policies = [fixedWindow({ limit: 10, window: '1 m' })]
    const decision = Promise.resolve(
      store.consume({ prefix: 'p', id: 'a', policies, cost: 1, peek: false }),
    ).then(
      () => 'answered',
      (error: unknown) => error,
    )
    await store.reset({ prefix: 'p', id: 'a', policies })
    refuse(new Error('NOSCRIPT No matching script. Please use EVAL.'))
    expect(await decision).toMatchObject({
      code: 'ERR_FLOODGATE_STORE_ERROR',
      message: expect.stringContaining('a reset was sent after the decision'),
    })
    expect(evals()).toBe(0)
    store.close()
  })
})

describe('a batch Redis skipped as past its deadline ([-1, server time]) after a reset of its keys was sent', () => {
  it('is not sent again (it would count after the reset), and fails', async () => {
    let answer!: (reply: unknown) => void
    let sent = 0
    const store = upstashStore({
      redis: {
        evalsha: () => {
          sent++
          return new Promise((resolve) => {
            answer = resolve
          })
        },
        eval: async () => [NOW, 1, 9, 60_000, 0],
        del: async () => 1,
      },
      logger: false,
    })
    const policies = [fixedWindow({ limit: 10, window: '1 m' })]
    const decision = follow(store.consume({ prefix: 'p', id: 'a', policies, cost: 1, peek: false }))
    await store.reset({ prefix: 'p', id: 'a', policies })
    answer([-1, NOW])
    await new Promise((resolve) => setImmediate(resolve))
    expect(decision.value).toMatchObject({ code: 'ERR_FLOODGATE_STORE_TIMEOUT' })
    expect(sent).toBe(1)
    store.close()
  })
})

describe('an Upstash that answers none of the requests sent since its last answer', () => {
  it('is sent one request per STALL_MS to find out, and answers again from its reply', async () => {
    vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
    let sent = 0
    const run = () => (++sent <= 2 ? new Promise<unknown>(() => {}) : Promise.resolve([NOW, 1, 9, 60_000, 0]))
    const store = upstashStore({ redis: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
    const consume = async (id: string) => {
      let outcome: unknown
      Promise.resolve(
        store.consume({
          prefix: 'p',
          id,
          policies: [fixedWindow({ limit: 10, window: '1 m' })],
          cost: 1,
          peek: false,
        }),
      ).then(
        () => {
          outcome = 'answered'
        },
        (error: unknown) => {
          outcome = error
        },
      )
      await vi.advanceTimersByTimeAsync(0)
      return outcome
    }
    await consume('a')
    await consume('b')
    await vi.advanceTimersByTimeAsync(2 * STALL_MS)
    expect(await consume('c')).toMatchObject({ code: 'ERR_FLOODGATE_STORE_ERROR' })
    expect(sent).toBe(2)
    await vi.advanceTimersByTimeAsync(STALL_MS)
    expect(await consume('d')).toBe('answered')
    expect(sent).toBe(3)
    expect(await consume('e')).toBe('answered')
    store.close()
  })
})

describe('an Upstash taken for silent whose requests all failed as timeouts before the watchdog looked again', () => {
  it('is timed anew from the request sent then: nothing it waited on still waits', async () => {
    vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
    let sent = 0
    const giveUps: ((error: Error) => void)[] = []
    const run = () => {
      sent++
      return new Promise<unknown>((_resolve, reject) => {
        giveUps.push(reject)
      })
    }
    const store = upstashStore({ redis: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
    const { at, call } = steps(store)
    expect(await call('a')).toBe('sent')
    expect(await call('b')).toBe('sent')
    await at(2 * STALL_MS)
    expect(await call('c')).toBe('ERR_FLOODGATE_STORE_ERROR')
    // Between two looks, STALL_MS after the silence began: the client gives up on a and b (an
    // AbortSignal.timeout), and d goes out at once, the one request of this STALL_MS.
    await at(2 * STALL_MS + WATCH_EVERY_MS + WATCH_EVERY_MS / 2)
    for (const giveUp of giveUps.splice(0)) {
      giveUp(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))
    }
    await vi.advanceTimersByTimeAsync(0)
    expect(await call('d')).toBe('sent')
    // The next look finds only d waiting, sent WATCH_EVERY_MS ago: no silence, as had it looked
    // before d went out. e goes out too.
    await at(2 * STALL_MS + 2 * WATCH_EVERY_MS + WATCH_EVERY_MS / 2)
    expect(await call('e')).toBe('sent')
    expect(sent).toBe(4)
    store.close()
  })
})

describe("a client's own timeout error", () => {
  for (const error of [
    new Error('Command timed out'),
    new Error("Socket timeout. Expecting data, but didn't receive any in 500ms."),
    Object.assign(new Error('Timeout'), { name: 'TimeoutError' }),
  ]) {
    it(`${JSON.stringify(error.message)}: a store timeout, with the client's error as its cause`, async () => {
      const run = async () => {
        throw error
      }
      const store = redisStore({ client: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
      const request = storeRequest('a')
      await expect(store.consume(request)).rejects.toMatchObject({
        code: 'ERR_FLOODGATE_STORE_TIMEOUT',
        message: expect.stringContaining(`gave up waiting for Redis: ${error.message}`),
        cause: error,
      })
      store.close()
    })
  }
})

describe('the watchdog of a Redis that stops answering', () => {
  it('takes it for silent at its first look past STALL_MS, and lets no call through while it stays so', async () => {
    vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
    let sent = 0
    const never = () => {
      sent++
      return new Promise<unknown>(() => {})
    }
    const client = { evalsha: never, eval: never, del: never } as unknown as RedisClient
    const store = redisStore({ client, logger: false })
    const { call } = steps(store)
    follow(store.consume(storeRequest('a')))
    await vi.advanceTimersByTimeAsync(STALL_MS + WATCH_EVERY_MS)
    expect(await call('b')).toBe('ERR_FLOODGATE_STORE_ERROR')
    // Another STALL_MS on: still refused, nothing sent (no probe without `probeWhenStalled`).
    await vi.advanceTimersByTimeAsync(STALL_MS)
    expect(await call('c')).toBe('ERR_FLOODGATE_STORE_ERROR')
    expect(sent).toBe(1)
    store.close()
  })
})

describe('the watchdog of a Redis that stops answering exactly STALL_MS before a look', () => {
  it('does not take it for silent at that look: silence is over STALL_MS without an answer', async () => {
    vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
    const { answers, run } = heldCalls()
    const client = { evalsha: run, eval: run, del: run } as unknown as RedisClient
    const store = redisStore({ client, logger: false })
    const { at, call } = steps(store)
    expect(await call('a')).toBe('sent')
    expect(await call('b')).toBe('sent')
    // The watchdog set with a looks 1 ms after each beat (its setImmediate, under these fakes): a
    // is answered at its first look, and b is never.
    await at(WATCH_EVERY_MS + 1)
    answers[0]!([NOW, 1, 9, 60_000, 0])
    await vi.advanceTimersByTimeAsync(0)
    // The look STALL_MS after that answer: not over STALL_MS yet.
    await at(STALL_MS + WATCH_EVERY_MS + 1)
    expect(await call('c')).toBe('sent')
    await at(STALL_MS + 2 * WATCH_EVERY_MS + 1)
    expect(await call('d')).toBe('ERR_FLOODGATE_STORE_ERROR')
    store.close()
  })
})

describe('the watchdog of a Redis that stops answering right after an answer', () => {
  it('keeps the beat it was set with: a command sent before its next look does not restart it', async () => {
    vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
    let sent = 0
    const run = () =>
      sent++ === 0 ? Promise.resolve([NOW, 1, 9, 60_000, 0]) : new Promise<unknown>(() => {})
    const client = { evalsha: run, eval: run, del: run } as unknown as RedisClient
    const store = redisStore({ client, logger: false })
    const { at, call } = steps(store)
    // Answered at once; the watchdog set then looks every WATCH_EVERY_MS from it.
    await store.consume(storeRequest('a'))
    await at(WATCH_EVERY_MS / 2)
    follow(store.consume(storeRequest('b')))
    // b has waited over STALL_MS at no look before the one 11 beats on: c still goes out.
    await at(STALL_MS + WATCH_EVERY_MS - 1)
    expect(await call('c')).toBe('sent')
    expect(sent).toBe(3)
    await at(STALL_MS + WATCH_EVERY_MS + 1)
    expect(await call('d')).toBe('ERR_FLOODGATE_STORE_ERROR')
    expect(sent).toBe(3)
    store.close()
  })
})

describe('the watchdog of an Upstash that stops answering (independent requests, probed)', () => {
  it('times the silence from the second request unanswered, then lets one request through per STALL_MS', async () => {
    vi.useFakeTimers({ toFake: WATCHDOG_TIMERS })
    let sent = 0
    const never = () => {
      sent++
      return new Promise<never>(() => {})
    }
    const store = upstashStore({ redis: { evalsha: never, eval: never, del: never }, logger: false })
    const { at, call } = steps(store)
    expect(await call('a')).toBe('sent')
    // One request out for over STALL_MS is no silence: the next goes out, and times it.
    await at(STALL_MS + WATCH_EVERY_MS)
    expect(await call('b')).toBe('sent')
    // A third request does not restart the timing.
    await at(2 * STALL_MS)
    expect(await call('c')).toBe('sent')
    await at(2 * STALL_MS + 2 * WATCH_EVERY_MS)
    expect(await call('d')).toBe('ERR_FLOODGATE_STORE_ERROR')
    expect(sent).toBe(3)
    // The silence began at the first look past 2 * STALL_MS + WATCH_EVERY_MS (the look runs in a
    // setImmediate, 1 ms after the interval's tick under these fakes): one request goes out
    // STALL_MS after it, and only one.
    await at(3 * STALL_MS + WATCH_EVERY_MS)
    expect(await call('e')).toBe('ERR_FLOODGATE_STORE_ERROR')
    await at(3 * STALL_MS + WATCH_EVERY_MS + 1)
    expect(await call('f')).toBe('sent')
    expect(await call('g')).toBe('ERR_FLOODGATE_STORE_ERROR')
    expect(sent).toBe(4)
    store.close()
  })
})

describe("a store's warning about its client, on the store's own path", () => {
  it('is written at the first decision of a store no limiter was given, once', async () => {
    const console = vi.spyOn(globalThis.console, 'warn').mockImplementation(() => undefined)
    // ioredis's defaults (an offline queue, resends), on a port nothing listens on: never connected.
    const client = new Redis({ port: await findFreePort(), lazyConnect: true })
    try {
      const store = redisStore({ client })
      expect(console).not.toHaveBeenCalled()
      follow(store.consume(storeRequest('a')))
      follow(store.consume(storeRequest('b')))
      expect(console).toHaveBeenCalledTimes(1)
      expect(String(console.mock.calls[0]![0])).toMatch(/WARN_FLOODGATE_CLIENT_SETTINGS: The ioredis client/)
      store.close()
    } finally {
      client.disconnect()
      console.mockRestore()
    }
  })
})

describe('a decision on a closed client', () => {
  it('is refused before anything is handed to the client', async () => {
    const client = new Redis({ port: await findFreePort(), lazyConnect: true, enableOfflineQueue: false })
    client.disconnect()
    const evalsha = vi.spyOn(client, 'evalsha')
    const store = redisStore({ client, logger: false })
    expect(() =>
      (store as unknown as SubmittingStore)[SUBMIT]('p', 'a', storeRequest('a').policies, 1, false, {
        respond: () => undefined,
        fail: () => undefined,
      }),
    ).toThrow(/^The ioredis client is not connected to Redis \(/)
    await expect(store.consume(storeRequest('a'))).rejects.toMatchObject({
      code: 'ERR_FLOODGATE_STORE_ERROR',
    })
    expect(evalsha).not.toHaveBeenCalled()
    store.close()
  })
})
