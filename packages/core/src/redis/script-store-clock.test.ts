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
