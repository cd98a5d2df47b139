import { describe, expect, it, vi } from 'vitest'
import { fixedWindow } from '../policies/fixed-window.js'
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

  it('a decision answered TRYAGAIN the moment TRYAGAIN_FOR_MS is up fails at once, with no retry timer', async () => {
    clock.now = 1_000
    let sent = 0
    let refuse!: (error: Error) => void
    const run = () => {
      sent++
      if (sent === 1) return TRYAGAIN()
      return new Promise<unknown>((_resolve, reject) => {
        refuse = reject
      })
    }
    const client = { evalsha: run, eval: run, del: async () => 0 }
    const store = redisStore({ client: client as unknown as RedisClient, logger: false })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const outcome = follow(store.consume(storeRequest('a')))
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

  it("a reset's DEL answered TRYAGAIN the moment TRYAGAIN_FOR_MS is up fails at once, with no retry timer", async () => {
    clock.now = 1_000
    let dels = 0
    let refuse!: (error: Error) => void
    const del = () => {
      if (dels++ === 0) return TRYAGAIN()
      return new Promise<unknown>((_resolve, reject) => {
        refuse = reject
      })
    }
    const client = { evalsha: TRYAGAIN, eval: TRYAGAIN, del }
    const store = redisStore({ client: client as unknown as RedisClient, logger: false })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const outcome = follow(store.reset({ prefix: 'p', id: 'a', policies }))
      await vi.advanceTimersByTimeAsync(TRYAGAIN_DELAY_MS)
      expect(dels).toBe(2)
      clock.now = 1_000 + TRYAGAIN_FOR_MS
      refuse(new Error('TRYAGAIN Multiple keys request during rehashing of slot'))
      await new Promise((resolve) => setImmediate(resolve))
      expect(outcome.value).toMatchObject({ message: expect.stringMatching(/^TRYAGAIN/) })
      expect(vi.getTimerCount()).toBe(0)
      expect(dels).toBe(2)
    } finally {
      vi.useRealTimers()
      store.close()
    }
  })

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
