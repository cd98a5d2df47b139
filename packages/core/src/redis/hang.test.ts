import { randomUUID } from 'node:crypto'
import {
  describeRedisServer,
  expectNoUnhandledRejections,
  type RedisServer,
  startRedisServer,
  startUpstashServer,
  type UpstashServer,
  upstashTestClient,
} from '@floodgate/tools'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Decision } from '../decision.js'
import { createRateLimiter, type RateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import type { RateLimitStore } from '../store.js'
import { upstashStore } from '../upstash/upstash-store.js'
import { DECIDE_SCRIPT } from './decide-script.js'
import { counterKey } from './keys.js'
import { redisStore } from './redis-store.js'
import { realNow, type ServerClock } from './server-clock.js'

// A Redis that hangs (CLIENT PAUSE, DEBUG SLEEP, a stopped process) rather than dies keeps the
// commands written to it and runs them when it resumes, long after the limiter answered their
// requests as store failures. Those must count nothing: the counter holds exactly the requests
// answered in time, on each client set up as docs/stores.md says, under an injected clock too
// (the deadline is on the server's clock).
//
// No test here waits on a timer of its own. The calls during a hang are sent before the hang can
// end (CLIENT PAUSE is in force once it answers; DEBUG SLEEP is queued ahead of them on the
// store's own connection), they settle at the limiter's deadline (250 ms), and the hang lasts
// 2 s: the margin is only ever needed by a machine stalled for over a second and a half. A PING
// on the same connection then answers only after Redis has run everything written before it.

const TIMEOUT_MS = 250
const CLIENT_TIMEOUT_MS = 200
const HANG_MS = 2_000
const RUN = randomUUID().slice(0, 8)
// A day's window: the counts read back from Redis span seconds of hang on the server's clock (the
// deadline's, under test), and an hour's end among them would expire the key with them.
const policy = fixedWindow({ name: 'w', limit: 1_000_000, window: '1 d' })

type Library = 'ioredis' | 'node-redis' | 'upstash'
type Hang = 'CLIENT PAUSE' | 'DEBUG SLEEP'

interface Connection {
  store(clock?: () => number): RateLimitStore
  /** Starts a DEBUG SLEEP on the store's own connection, ahead of whatever it sends next. */
  sleep(seconds: number): Promise<unknown>
  /** Resolves once Redis has run every command the store's connection carried before it. */
  drain(store: RateLimitStore): Promise<void>
  close(): Promise<void>
}

async function connect(
  library: Library,
  server: RedisServer,
  upstash: UpstashServer,
  clientTimeoutMs = CLIENT_TIMEOUT_MS,
): Promise<Connection> {
  if (library === 'ioredis') {
    const client = new Redis(server.url, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: clientTimeoutMs,
      retryStrategy: (attempt) => Math.min(attempt * 20, 200),
    })
    client.on('error', () => undefined)
    await new Promise((resolve) => client.once('ready', resolve))
    return {
      store: (clock) => redisStore({ client, logger: false, ...(clock ? { clock } : {}) }),
      sleep: (seconds) => client.call('DEBUG', 'SLEEP', String(seconds)).catch(() => undefined),
      // Called once the hang is over: the PING answers after everything written before it ran.
      drain: async () => void (await client.ping()),
      close: async () => client.disconnect(),
    }
  }
  if (library === 'node-redis') {
    const client = createClient({
      url: server.url,
      disableOfflineQueue: true,
      commandOptions: { timeout: clientTimeoutMs },
      socket: { reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2_000) },
    })
    client.on('error', () => undefined)
    await client.connect()
    return {
      store: (clock) => redisStore({ client, logger: false, ...(clock ? { clock } : {}) }),
      sleep: (seconds) => client.sendCommand(['DEBUG', 'SLEEP', String(seconds)]).catch(() => undefined),
      drain: async () => void (await client.ping()),
      close: async () => void client.destroy(),
    }
  }
  const redis = upstashTestClient(upstash)
  return {
    store: (clock) => upstashStore({ redis, logger: false, ...(clock ? { clock } : {}) }),
    sleep: () => Promise.reject(new Error('no DEBUG SLEEP through Upstash')),
    async drain(store) {
      // The local Upstash server forwards every request on one connection: this PING runs after
      // them. Then every HTTP reply is read, so the store has heard Redis again.
      await redis.ping()
      const held = store as unknown as { commandsHeld: number }
      for (let i = 0; i < 10_000 && held.commandsHeld > 0; i++) await new Promise(setImmediate)
      expect(held.commandsHeld).toBe(0)
    },
    close: async () => undefined,
  }
}

/** Sends `rounds` rounds of `perRound` calls, each round after the event loop polled once. */
async function burst(
  limiter: RateLimiter,
  id: string,
  rounds: number,
  perRound: number,
): Promise<Decision[]> {
  const calls: Promise<Decision>[] = []
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < perRound; i++) calls.push(limiter.limit(id))
    if (round < rounds - 1) await new Promise(setImmediate)
  }
  return Promise.all(calls)
}

describeRedisServer('a Redis that hangs, then runs what was written to it', () => {
  let server: RedisServer
  let upstash: UpstashServer
  let admin: Redis
  expectNoUnhandledRejections()

  beforeAll(async () => {
    server = await startRedisServer({ args: ['--enable-debug-command', 'local'] })
    upstash = await startUpstashServer({ redisUrl: server.url })
    admin = new Redis(server.url, { maxRetriesPerRequest: 0 })
    admin.on('error', () => undefined)
  })
  afterAll(async () => {
    admin?.disconnect()
    await upstash?.stop()
    await server?.stop()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  /** Requests counted for `id`, read straight from Redis. */
  async function counted(prefix: string, id: string): Promise<number> {
    const values = await admin.hvals(counterKey(prefix, id, policy))
    return values.reduce((sum, v) => sum + Number(v), 0)
  }

  async function serverMs(): Promise<number> {
    const [seconds, micros] = await admin.time()
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  }

  it('the script runs a batch before its deadline (server TIME), and skips one at or past it, writing nothing', async () => {
    const prefix = `hang-${RUN}-script`
    const key = counterKey(prefix, 'id', policy)
    const now = await serverMs()
    const run = (nowArg: string, deadline: number) =>
      admin.eval(
        DECIDE_SCRIPT,
        1,
        key,
        nowArg,
        nowArg === '' ? '' : '60000',
        String(deadline),
        // The policy's day: a minute's end between `now` and the server's TIME would split the counts.
        '1:1 10 86400000 0;',
      )
    const late = (await run('', now)) as number[]
    expect(late).toHaveLength(2)
    expect(late[0]).toBe(-1)
    expect(late[1]).toBeGreaterThanOrEqual(now)
    expect(await admin.exists(key)).toBe(0)
    // An injected clock's decision time does not move the deadline off the server's clock.
    expect(await run(String(now + 3_600_000), now)).toEqual([-1, expect.any(Number)])
    expect(await admin.exists(key)).toBe(0)
    // In time: decided as usual; an injected clock's reply ends with the server's time.
    expect(((await run('', now + 60_000)) as number[]).slice(1)).toEqual([1, 9, expect.any(Number), 0])
    const injected = (await run(String(now), now + 60_000)) as number[]
    expect(injected).toHaveLength(6)
    expect(injected.slice(0, 5)).toEqual([now, 1, 8, expect.any(Number), 0])
    expect(injected[5]).toBeGreaterThanOrEqual(now)
    // No deadline (0): decided as usual.
    expect(((await run('', 0)) as number[]).slice(1)).toEqual([1, 7, expect.any(Number), 0])
    expect(await counted(prefix, 'id')).toBe(3)
  })

  const cases: [Library, Hang, 'allow' | 'deny', boolean][] = [
    ['ioredis', 'CLIENT PAUSE', 'allow', false],
    ['ioredis', 'DEBUG SLEEP', 'deny', false],
    ['node-redis', 'CLIENT PAUSE', 'deny', false],
    ['node-redis', 'DEBUG SLEEP', 'allow', false],
    ['upstash', 'CLIENT PAUSE', 'deny', false],
    // A frozen test clock far from the server's: the deadline is still judged on the server's.
    ['ioredis', 'CLIENT PAUSE', 'deny', true],
  ]
  describe.each(cases)(
    '%s, %s, onStoreError %s, injected clock: %s',
    (library, hang, onStoreError, injected) => {
      it('counts only the requests answered in time, and limits again once Redis resumes', async () => {
        const c = await connect(library, server, upstash)
        const prefix = `hang-${RUN}-${library}-${hang.replace(' ', '')}-${onStoreError}-${injected}`
        const store = c.store(injected ? () => 1_000_000_000 : undefined)
        const limiter = createRateLimiter({
          policies: policy,
          store,
          prefix,
          timeout: TIMEOUT_MS,
          onStoreError,
          denyCache: false,
          logger: false,
        })
        try {
          const inTime = await burst(limiter, 'id', 2, 10)
          expect(inTime.map((d) => d.reason)).toEqual(Array(20).fill('allowed'))

          const hung =
            hang === 'CLIENT PAUSE'
              ? await admin.call('CLIENT', 'PAUSE', String(HANG_MS), 'ALL')
              : c.sleep(HANG_MS / 1000)
          // Sent while Redis hangs: every one a store failure, answered at the limiter's deadline.
          const during = await burst(limiter, 'id', 4, 40)
          expect(during.map((d) => [d.reason, d.allowed])).toEqual(
            Array(160).fill(['store-error', onStoreError === 'allow']),
          )

          // Redis resumes and runs what was written to it: none of it counts.
          await hung
          await admin.ping()
          await c.drain(store)
          expect(await counted(prefix, 'id')).toBe(20)

          // And it limits again.
          expect((await limiter.limit('id')).reason).toBe('allowed')
          expect(await counted(prefix, 'id')).toBe(21)
        } finally {
          await limiter.close()
          await c.close()
        }
      }, 30_000)
    },
  )

  /**
   * A limiter whose store has learned the server's clock from one call, then is set back as if the
   * server's clock had since stepped a minute forward.
   */
  async function steppedForward(library: Library, name: string) {
    const c = await connect(library, server, upstash)
    const prefix = `hang-${RUN}-${library}-${name}`
    const store = c.store()
    const limiter = createRateLimiter({ policies: policy, store, prefix, timeout: TIMEOUT_MS, logger: false })
    expect((await limiter.limit('id')).reason).toBe('allowed')
    const clock = (store as unknown as { serverClock: ServerClock }).serverClock
    clock.relearn((await serverMs()) - 60_000, realNow())
    return {
      prefix,
      limiter,
      clock,
      async close() {
        await limiter.close()
        await c.close()
      },
    }
  }

  describe.each(['ioredis', 'node-redis'] as const)('through %s', (library) => {
    it('learns that the server clock moved forward from a call skipped in time, and sends it again, counting it once', async () => {
      const { prefix, limiter, clock, close } = await steppedForward(library, 'stepped')
      try {
        const decisions = await burst(limiter, 'id', 2, 10)
        expect(decisions.map((d) => d.reason)).toEqual(Array(20).fill('allowed'))
        expect(await counted(prefix, 'id')).toBe(21)
        // The estimate is an upper bound again: a deadline of now maps to no earlier than the server's now.
        const before = await serverMs()
        expect(clock.serverTime(realNow())).toBeGreaterThanOrEqual(before)
      } finally {
        await close()
      }
    })

    it("skips no call for another call's deadline: limiters with different timeouts on one store", async () => {
      const c = await connect(library, server, upstash, 2_000)
      const prefix = `hang-${RUN}-${library}-two-timeouts`
      const store = c.store()
      const make = (timeout: number) =>
        createRateLimiter({ policies: policy, store, prefix, timeout, onStoreError: 'deny', logger: false })
      const [short, long] = [make(100), make(1_000)]
      try {
        expect((await long.limit('long')).reason).toBe('allowed')
        // Redis is busy for 300 ms ahead of both calls, sent in the same tick.
        const busy = c.sleep(0.3)
        const answers = await Promise.all([short.limit('short'), long.limit('long')])
        await busy
        expect(answers.map((d) => d.reason)).toEqual(['store-error', 'allowed'])
        await c.drain(store)
        expect([await counted(prefix, 'short'), await counted(prefix, 'long')]).toEqual([0, 2])
      } finally {
        await short.close()
        await long.close()
        await c.close()
      }
    })

    it('does not send again a call skipped in time when a reset of its key was sent after it', async () => {
      const { prefix, limiter, close } = await steppedForward(library, 'stepped-reset')
      try {
        const decision = limiter.limit('id')
        const reset = limiter.reset('id')
        expect((await decision).reason).toBe('store-error')
        await reset
        expect(await counted(prefix, 'id')).toBe(0)
        // The estimate was learned again from that reply: the next call counts.
        expect((await limiter.limit('id')).reason).toBe('allowed')
        expect(await counted(prefix, 'id')).toBe(1)
      } finally {
        await close()
      }
    })
  })

  it("counts nothing late through ioredis when its socket timeout fails a call before the call's other deadlines", async () => {
    // The settings of docs/security.md but for the command timeout, so that the socket timeout
    // (from the first write that waits) binds first.
    const client = new Redis(server.url, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 2_000,
      socketTimeout: 220,
      retryStrategy: (attempt) => Math.min(attempt * 20, 200),
    })
    client.on('error', () => undefined)
    await new Promise((resolve) => client.once('ready', resolve))
    const prefix = `hang-${RUN}-ioredis-socket-timeout`
    const store = redisStore({ client, logger: false })
    const limiter = createRateLimiter({
      policies: policy,
      store,
      prefix,
      timeout: 1_000,
      onStoreError: 'deny',
      denyCache: false,
      logger: false,
    })
    try {
      expect((await limiter.limit('id')).reason).toBe('allowed')
      // Redis sleeps 500 ms on the store's connection; at 220 ms ioredis closes it, failing the call.
      const slept = client.call('DEBUG', 'SLEEP', '0.5').catch(() => undefined)
      expect((await limiter.limit('id')).reason).toBe('store-error')
      await slept
      // Redis then reads and runs what the closed connection carried, in the same turn of its loop
      // as the first PING: after the second, it has.
      await admin.ping()
      await admin.ping()
      expect(await counted(prefix, 'id')).toBe(1)
      if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve))
      expect((await limiter.limit('id')).reason).toBe('allowed')
      expect(await counted(prefix, 'id')).toBe(2)
    } finally {
      await limiter.close()
      client.disconnect()
    }
  })

  // Through ioredis: node-redis fails its commands under fake timers, with or without Floodgate.
  it('counts on-time calls under fake timers, however far the fake clock moves', async () => {
    const c = await connect('ioredis', server, upstash)
    vi.useFakeTimers()
    const prefix = `hang-${RUN}-ioredis-fake-timers`
    const store = c.store()
    const limiter = createRateLimiter({ policies: policy, store, prefix, timeout: TIMEOUT_MS, logger: false })
    try {
      expect((await burst(limiter, 'id', 1, 5)).map((d) => d.reason)).toEqual(Array(5).fill('allowed'))
      vi.setSystemTime(Date.now() + 3_600_000)
      vi.advanceTimersByTime(3_600_000)
      expect((await burst(limiter, 'id', 1, 5)).map((d) => d.reason)).toEqual(Array(5).fill('allowed'))
      expect(await counted(prefix, 'id')).toBe(10)
      // Deadlines pass only when the test moves the clock: none is sent in real time, so neither
      // a fake clock moved before the call is sent nor a Redis slow in real time fails a call.
      const moved = limiter.limit('id')
      vi.advanceTimersByTime(TIMEOUT_MS - 2)
      expect((await moved).reason).toBe('allowed')
      const slept = c.sleep(0.3)
      expect((await limiter.limit('id')).reason).toBe('allowed')
      await slept
      expect(await counted(prefix, 'id')).toBe(12)
    } finally {
      await limiter.close()
      await c.close()
    }
  })
})
