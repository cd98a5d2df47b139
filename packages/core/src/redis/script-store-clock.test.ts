import { describe, expect, it, vi } from 'vitest'
import { fixedWindow } from '../policies/fixed-window.js'
import { SUBMIT, type SubmittingStore } from '../queued-call.js'
import { upstashStore } from '../upstash/upstash-store.js'
import type { RedisClient } from './clients.js'
import { redisStore } from './redis-store.js'
import { TRYAGAIN_DELAY_MS, TRYAGAIN_FOR_MS } from './script-store.js'
import { follow, storeRequest } from './test-fixtures/store-calls.js'

// What the script store times on its real clock (`realNow()`, which fake timers do not reach): the
// socket timeout's share of a deadline, how long a command goes again after TRYAGAIN. The clock is
// stepped by hand here; fake timers run the store's own timers.

const clock = vi.hoisted(() => ({ now: 1_000 }))
vi.mock('./server-clock.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('./server-clock.js')>()),
  realNow: () => clock.now,
}))

const NOW = 1_800_000_000_000
const REPLY = [NOW, 1, 9, 60_000, 0]

describe("the socket timeout's share of the deadline of a call sent while another waits", () => {
  for (const [library, from, expected] of [
    ['ioredis', 'the last reply (its timer restarts on data received while commands wait)', 500],
    ['node-redis', 'the send (its timer restarts on every write)', 800],
  ] as const) {
    it(`${library}: counted from ${from}`, async () => {
      clock.now = 1_000
      const deadlines: string[] = []
      // The first call is answered at once, the second never, the third at once.
      let sent = 0
      const answer = (args: string[]) => {
        deadlines.push(args[2]!)
        return sent++ === 1 ? new Promise<unknown>(() => {}) : Promise.resolve(REPLY)
      }
      const client =
        library === 'ioredis'
          ? {
              evalsha: (_sha: string, _numKeys: number, _keys: string[], args: string[]) => answer(args),
              eval: (_sha: string, _numKeys: number, _keys: string[], args: string[]) => answer(args),
              del: async () => 0,
              options: { socketTimeout: 500 },
            }
          : {
              evalSha: (_sha: string, { arguments: args }: { arguments: string[] }) => answer(args),
              eval: (_sha: string, { arguments: args }: { arguments: string[] }) => answer(args),
              del: async () => 0,
              options: { socket: { socketTimeout: 500, reconnectStrategy: 50 } },
            }
      const store = redisStore({ client: client as unknown as RedisClient, logger: false })
      // Replied at 1000 ms: Redis's clock read NOW then.
      await store.consume(storeRequest('a'))
      clock.now = 1_100
      follow(store.consume(storeRequest('b')))
      await Promise.resolve()
      clock.now = 1_300
      await store.consume(storeRequest('c'))
      expect(sent).toBe(3)
      // From the last reply (1000 ms), or from this send (1300 ms), plus the 500 ms socket timeout.
      expect(Number(deadlines[2]) - NOW).toBe(expected + 1)
      store.close()
    })
  }
})

describe("ioredis's socket timeout when no command of the store waits", () => {
  it('is counted from the send: its timer starts with the first write', async () => {
    clock.now = 1_000
    const deadlines: string[] = []
    const run = (_sha: string, _numKeys: number, _keys: string[], args: string[]) => {
      deadlines.push(args[2]!)
      return Promise.resolve(REPLY)
    }
    const client = { evalsha: run, eval: run, del: async () => 0, options: { socketTimeout: 500 } }
    const store = redisStore({ client: client as unknown as RedisClient, logger: false })
    // Replied at 1000 ms: Redis's clock read NOW then.
    await store.consume(storeRequest('a'))
    clock.now = 1_300
    await store.consume(storeRequest('b'))
    expect(Number(deadlines[1]) - NOW).toBe(801)
    store.close()
  })
})

describe("the script's answer that it ran past the deadline ([-1, server time]), read the moment the deadline is up", () => {
  it("fails as a store timeout: not sent again, and the server's clock is not learned from it", async () => {
    clock.now = 1_000
    let answer!: (reply: unknown) => void
    const deadlines: string[] = []
    let sent = 0
    const run = (_sha: string, _numKeys: number, _keys: string[], args: string[]) => {
      deadlines.push(args[2]!)
      if (sent++ !== 1) return Promise.resolve(REPLY)
      return new Promise<unknown>((resolve) => {
        answer = resolve
      })
    }
    const client = { evalsha: run, eval: run, del: async () => 0, options: { commandTimeout: 500 } }
    const store = redisStore({ client: client as unknown as RedisClient, logger: false })
    await store.consume(storeRequest('a'))
    const outcome = follow(store.consume(storeRequest('a')))
    await Promise.resolve()
    expect(sent).toBe(2)
    clock.now = 1_500
    answer([-1, NOW + 500])
    await new Promise((resolve) => setImmediate(resolve))
    expect(outcome.value).toMatchObject({ code: 'ERR_FLOODGATE_STORE_TIMEOUT' })
    expect(sent).toBe(2)
    await store.consume(storeRequest('a'))
    // Mapped with the clock the first reply gave (NOW at 1000 ms): 1500 ms + the 500 ms timeout.
    expect(Number(deadlines[2]) - NOW).toBe(1_001)
    store.close()
  })
})

const TRYAGAIN = () => Promise.reject(new Error('TRYAGAIN Multiple keys request during rehashing of slot'))
const policies = [fixedWindow({ limit: 10, window: '1 m' })]

describe('a command Redis keeps answering TRYAGAIN', () => {
  it('a decision: fails when TRYAGAIN_FOR_MS is up, not a retry delay later', async () => {
    clock.now = 1_000
    let sent = 0
    const run = () => {
      sent++
      return TRYAGAIN()
    }
    const client = { evalsha: run, eval: run, del: async () => 0 }
    const store = redisStore({ client: client as unknown as RedisClient, logger: false })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const outcome = follow(store.consume(storeRequest('a')))
      await vi.advanceTimersByTimeAsync(0)
      expect(sent).toBe(1)
      // 10 ms left: the next try waits only those.
      clock.now = 1_000 + TRYAGAIN_FOR_MS - 10
      await vi.advanceTimersByTimeAsync(TRYAGAIN_DELAY_MS)
      expect(sent).toBe(2)
      clock.now = 1_000 + TRYAGAIN_FOR_MS
      await vi.advanceTimersByTimeAsync(10)
      expect(outcome.value).toMatchObject({ message: expect.stringMatching(/^TRYAGAIN/) })
      expect(sent).toBe(2)
    } finally {
      vi.useRealTimers()
      store.close()
    }
  })

  for (const [name, expected] of [
    ['ioredis commandTimeout, from each send', [501, 701]],
    ["node-redis commandOptions.timeout, the store's own reply timeout from the first send", [501, 501]],
  ] as const) {
    it(`a decision sent again after NOSCRIPT carries the client's timeout as of then: ${name}`, async () => {
      clock.now = 1_000
      const deadlines: string[] = []
      let refuse!: (error: Error) => void
      let sent = 0
      const answer = (args: string[]) => {
        deadlines.push(args[2]!)
        if (sent++ !== 1) return Promise.resolve(REPLY)
        return new Promise<unknown>((_resolve, reject) => {
          refuse = reject
        })
      }
      const client = name.startsWith('ioredis')
        ? {
            evalsha: (_sha: string, _numKeys: number, _keys: string[], args: string[]) => answer(args),
            eval: (_sha: string, _numKeys: number, _keys: string[], args: string[]) => answer(args),
            del: async () => 0,
            options: { commandTimeout: 500 },
          }
        : {
            evalSha: (_sha: string, { arguments: args }: { arguments: string[] }) => answer(args),
            eval: (_sha: string, { arguments: args }: { arguments: string[] }) => answer(args),
            del: async () => 0,
            options: { commandOptions: { timeout: 500 } },
          }
      const store = redisStore({ client: client as unknown as RedisClient, logger: false })
      // Replied at 1000 ms: Redis's clock read NOW then.
      await store.consume(storeRequest('a'))
      const outcome = store.consume(storeRequest('a'))
      await Promise.resolve()
      expect(sent).toBe(2)
      clock.now = 1_200
      refuse(new Error('NOSCRIPT No matching script. Please use EVAL.'))
      await outcome
      expect(sent).toBe(3)
      // Sent at 1000 ms, then again at 1200 ms, with a 500 ms timeout.
      expect(deadlines.slice(1).map((d) => Number(d) - NOW)).toEqual(expected)
      store.close()
    })
  }

  for (const [what, kind] of [
    ['a decision', 'decision'],
    ["a reset's DEL", 'reset'],
  ] as const) {
    it(`${what} answered TRYAGAIN the moment TRYAGAIN_FOR_MS is up fails at once, with no retry timer`, async () => {
      clock.now = 1_000
      let sent = 0
      let refuse!: (error: Error) => void
      // TRYAGAIN once, then held until the test refuses it.
      const held = () => {
        if (sent++ === 0) return TRYAGAIN()
        return new Promise<unknown>((_resolve, reject) => {
          refuse = reject
        })
      }
      const client =
        kind === 'decision'
          ? { evalsha: held, eval: held, del: async () => 0 }
          : { evalsha: TRYAGAIN, eval: TRYAGAIN, del: held }
      const store = redisStore({ client: client as unknown as RedisClient, logger: false })
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
      try {
        const outcome = follow(
          kind === 'decision'
            ? store.consume(storeRequest('a'))
            : store.reset({ prefix: 'p', id: 'a', policies }),
        )
        await vi.advanceTimersByTimeAsync(TRYAGAIN_DELAY_MS)
        expect(sent).toBe(2)
        clock.now = 1_000 + TRYAGAIN_FOR_MS
        refuse(new Error('TRYAGAIN Multiple keys request during rehashing of slot'))
        await new Promise((resolve) => setImmediate(resolve))
        expect(outcome.value).toMatchObject({ message: expect.stringMatching(/^TRYAGAIN/) })
        expect(vi.getTimerCount()).toBe(0)
        expect(sent).toBe(2)
      } finally {
        vi.useRealTimers()
        store.close()
      }
    })
  }

  for (const [what, options, forMs] of [
    ['with no reply timeout: for TRYAGAIN_FOR_MS', undefined, TRYAGAIN_FOR_MS],
    ["within node-redis's commandOptions.timeout", { commandOptions: { timeout: 300 } }, 300],
  ] as const) {
    it(`a reset's DEL goes again ${what}, then fails`, async () => {
      clock.now = 1_000
      let dels = 0
      const del = () => {
        dels++
        return TRYAGAIN()
      }
      const client =
        options === undefined
          ? { evalsha: TRYAGAIN, eval: TRYAGAIN, del }
          : { evalSha: TRYAGAIN, eval: del, del, options }
      const store = redisStore({ client: client as unknown as RedisClient, logger: false })
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
      try {
        const outcome = follow(store.reset({ prefix: 'p', id: 'a', policies }))
        await vi.advanceTimersByTimeAsync(TRYAGAIN_DELAY_MS)
        expect(dels).toBe(2)
        clock.now = 1_000 + forMs - 1
        await vi.advanceTimersByTimeAsync(TRYAGAIN_DELAY_MS)
        expect(dels).toBe(3)
        clock.now = 1_000 + forMs
        await vi.advanceTimersByTimeAsync(TRYAGAIN_DELAY_MS)
        expect(outcome.value).toMatchObject({ message: expect.stringMatching(/^TRYAGAIN/) })
        expect(dels).toBe(3)
      } finally {
        vi.useRealTimers()
        store.close()
      }
    })
  }
})

describe('the decisions started in one tick, sent as one script call', () => {
  /** A client that records each command's keys and arguments and answers every call allowed. */
  function recording(injected: boolean) {
    const sent: { keys: string[]; args: string[] }[] = []
    const run = (_sha: string, _numKeys: number, keys: string[], args: string[]) => {
      sent.push({ keys, args })
      const outcomes = keys.flatMap(() => [1, 9, 60_000, 0])
      return Promise.resolve(injected ? [NOW, ...outcomes, NOW] : [NOW, ...outcomes])
    }
    const client = { evalsha: run, eval: run, del: async () => 0 }
    return { sent, client: client as unknown as RedisClient }
  }

  it(`share one command up to ${16} calls; the 17th starts the next`, async () => {
    const { sent, client } = recording(false)
    const store = redisStore({ client, logger: false })
    await Promise.all(Array.from({ length: 17 }, (_, i) => store.consume(storeRequest(`id${i}`))))
    expect(sent.map(({ args }) => args.length - 3)).toEqual([16, 1])
    store.close()
  })

  it('name the cost and peek of each call, and a policy list only where it differs from the last', async () => {
    const { sent, client } = recording(false)
    const store = redisStore({ client, logger: false })
    const other = [fixedWindow({ limit: 5, window: '1 m' })]
    await Promise.all([
      store.consume(storeRequest('a')),
      store.consume({ ...storeRequest('b'), peek: true }),
      store.consume({ ...storeRequest('c'), policies: other }),
      store.consume({ ...storeRequest('d'), policies: other }),
    ])
    expect(sent).toHaveLength(1)
    // The first call names its list; the third a new one; the fourth the same as the third.
    expect(sent[0]!.args.slice(3)).toEqual(['1:1 10 60000 0;', '1p', '1:1 5 60000 0;', '1'])
    store.close()
  })

  it('start a new command when the injected clock moved, sent with the time each read', async () => {
    const { sent, client } = recording(true)
    let now = NOW
    const store = redisStore({ client, logger: false, clock: () => now })
    const first = store.consume(storeRequest('a'))
    const second = store.consume(storeRequest('b'))
    now = NOW + 5
    const third = store.consume(storeRequest('c'))
    // A clock that steps back is read as the latest time it gave.
    now = NOW + 2
    const fourth = store.consume(storeRequest('d'))
    await Promise.all([first, second, third, fourth])
    expect(sent.map(({ args }) => [args[0], args.length - 3])).toEqual([
      [String(NOW), 2],
      [String(NOW + 5), 2],
    ])
    store.close()
  })

  it('start a new command for a deadline more than 1 ms from the batch’s, either way', async () => {
    const { sent, client } = recording(false)
    const store = redisStore({ client, logger: false })
    const policies = [fixedWindow({ limit: 10, window: '1 m' })]
    const submit = (id: string, atMs: number) =>
      new Promise<unknown>((resolve, reject) => {
        ;(store as unknown as SubmittingStore)[SUBMIT]('p', id, policies, 1, false, {
          atMs,
          respond: (reply) => resolve(reply),
          fail: reject,
        })
      })
    const base = performance.now() + 60_000
    // Within 1 ms of the batch's first deadline: one command. 2 ms later, or 2 ms earlier: another.
    await Promise.all([submit('a', base), submit('b', base + 1), submit('c', base - 1)])
    await Promise.all([submit('d', base), submit('e', base + 2), submit('f', base + 2)])
    await Promise.all([submit('g', base), submit('h', base - 2)])
    expect(sent.map(({ args }) => args.length - 3)).toEqual([3, 1, 2, 1, 1])
    store.close()
  })

  it('on Upstash: one request per call, each a request of its own', async () => {
    const sent: string[][] = []
    const run = async (_script: string, keys: string[], args: string[]) => {
      sent.push(args)
      return [NOW, ...keys.flatMap(() => [1, 9, 60_000, 0])]
    }
    const store = upstashStore({ redis: { evalsha: run, eval: run, del: async () => 0 }, logger: false })
    await Promise.all([store.consume(storeRequest('a')), store.consume(storeRequest('b'))])
    expect(sent.map((args) => args.length - 3)).toEqual([1, 1])
    store.close()
  })

  it('go out before a reset made on another store of the same client, in the order they were made', async () => {
    const order: string[] = []
    const run = (_sha: string, _numKeys: number, keys: string[]) => {
      order.push(`decide ${keys.join(' ')}`)
      return Promise.resolve([NOW, ...keys.flatMap(() => [1, 9, 60_000, 0])])
    }
    const del = async (...keys: string[]) => {
      order.push(`del ${keys.join(' ')}`)
      return 0
    }
    const client = { evalsha: run, eval: run, del } as unknown as RedisClient
    const deciding = redisStore({ client, logger: false })
    const resetting = redisStore({ client, logger: false })
    const decided = deciding.consume(storeRequest('a'))
    await resetting.reset({ prefix: 'p', id: 'a', policies: storeRequest('a').policies })
    await decided
    expect(order.map((command) => command.split(' ')[0])).toEqual(['decide', 'del'])
    deciding.close()
    resetting.close()
  })
})
