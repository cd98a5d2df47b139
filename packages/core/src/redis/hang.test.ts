import { randomUUID } from 'node:crypto'
import { describeRedisServer, type RedisServer, startRedisServer } from '@floodgate/tools'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Decision } from '../decision.js'
import { createRateLimiter, type RateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import type { RedisClient } from './clients.js'
import { DECIDE_SCRIPT } from './decide-script.js'
import { counterKey } from './keys.js'
import { redisStore } from './redis-store.js'

// A Redis that hangs (CLIENT PAUSE, DEBUG SLEEP) rather than dies keeps the commands written to it
// and runs them when it resumes, long after the limiter answered their requests as store failures.
// Those must count nothing: the counter holds exactly the requests answered in time, under
// onStoreError 'allow' and 'deny' (where they were answered 503), on both clients set up as
// docs/stores.md says, and under an injected clock (the deadline is on the server's clock).
//
// The hang is real time on Redis: calls go out in its first ~200 ms and their deadline is 250 ms,
// against a hang of 1.5 s, so a slow machine has over a second of margin; the counts are exact.

const TIMEOUT_MS = 250
const HANG_MS = 1_500
const RUN = randomUUID().slice(0, 8)
const policy = fixedWindow({ name: 'w', limit: 1_000_000, window: '1 h' })

type Library = 'ioredis' | 'node-redis'
type Hang = 'CLIENT PAUSE' | 'DEBUG SLEEP'

interface Client {
  client: RedisClient
  /** Resolves once every command written before it on the store's connection has run. */
  drain(): Promise<void>
  close(): Promise<void>
}

async function connect(library: Library, url: string): Promise<Client> {
  if (library === 'ioredis') {
    const client = new Redis(url, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 200,
      socketTimeout: 220,
      retryStrategy: (attempt) => Math.min(attempt * 20, 200),
    })
    client.on('error', () => undefined)
    await new Promise((resolve) => client.once('ready', resolve))
    return {
      client,
      async drain() {
        // The socket timeout may have dropped the hung connection: wait for the new one.
        for (let i = 0; i < 100 && client.status !== 'ready'; i++) await sleep(50)
        await client.ping().catch(() => undefined)
      },
      close: async () => client.disconnect(),
    }
  }
  const client = createClient({
    url,
    disableOfflineQueue: true,
    commandOptions: { timeout: 200 },
    socket: { socketTimeout: 5_000, reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2_000) },
  })
  client.on('error', () => undefined)
  await client.connect()
  return {
    client,
    async drain() {
      for (let i = 0; i < 100 && !client.isReady; i++) await sleep(50)
      await client.ping().catch(() => undefined)
    },
    close: async () => void client.destroy(),
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** limit(id) again every 50 ms until it is not a store error, for at most 10 s. */
async function answering(limiter: RateLimiter, id: string): Promise<Decision> {
  const until = Date.now() + 10_000
  let decision = await limiter.limit(id)
  while (decision.reason === 'store-error' && Date.now() < until) {
    await sleep(50)
    decision = await limiter.limit(id)
  }
  return decision
}

describeRedisServer('a Redis that hangs, then runs what was written to it', () => {
  let server: RedisServer
  let admin: Redis

  beforeAll(async () => {
    server = await startRedisServer({ args: ['--enable-debug-command', 'local'] })
    admin = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 })
    admin.on('error', () => undefined)
    await admin.connect()
  })
  afterAll(async () => {
    admin?.disconnect()
    await server?.stop()
  })

  /** Requests counted for `id`, read straight from Redis. */
  async function counted(prefix: string, id: string): Promise<number> {
    const values = await admin.hvals(counterKey(prefix, id, 'w'))
    return values.reduce((sum, v) => sum + Number(v), 0)
  }

  it('the script runs a batch before its deadline (server TIME), and skips one past it, writing nothing', async () => {
    const key = counterKey(`hang-${RUN}-script`, 'id', 'w')
    const [seconds, micros] = await admin.time()
    const serverMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
    const run = (nowArg: string, deadline: number) =>
      admin.eval(
        DECIDE_SCRIPT,
        1,
        key,
        nowArg,
        nowArg === '' ? '' : '60000',
        String(deadline),
        '1:1 10 60000 0;',
      )
    const late = (await run('', serverMs - 1)) as number[]
    expect(late).toHaveLength(2)
    expect(late[0]).toBe(-1)
    expect(late[1]).toBeGreaterThanOrEqual(serverMs)
    expect(await admin.exists(key)).toBe(0)
    // An injected clock's decision time does not move the deadline off the server's clock.
    expect(await run(String(serverMs + 3_600_000), serverMs - 1)).toEqual([-1, expect.any(Number)])
    expect(await admin.exists(key)).toBe(0)
    expect(((await run('', serverMs + 60_000)) as number[]).slice(1)).toEqual([1, 9, expect.any(Number), 0])
    expect(((await run('', 0)) as number[]).slice(1)).toEqual([1, 8, expect.any(Number), 0])
    expect(await counted(`hang-${RUN}-script`, 'id')).toBe(2)
  })

  const cases: [Library, Hang, boolean][] = [
    ['ioredis', 'DEBUG SLEEP', false],
    ['ioredis', 'CLIENT PAUSE', false],
    ['node-redis', 'CLIENT PAUSE', false],
    ['node-redis', 'DEBUG SLEEP', false],
    // A frozen test clock far from the server's: the deadline is still judged on the server's.
    ['node-redis', 'CLIENT PAUSE', true],
  ]
  describe.each(cases)('%s, %s, injected clock: %s', (library, hang, injected) => {
    for (const onStoreError of ['allow', 'deny'] as const) {
      it(`counts only the requests answered in time, under onStoreError '${onStoreError}'`, async () => {
        const c = await connect(library, server.url)
        const prefix = `hang-${RUN}-${library}-${hang.replace(' ', '')}-${injected}-${onStoreError}`
        const store = redisStore({
          client: c.client,
          logger: false,
          ...(injected ? { clock: () => 1_000_000_000 } : {}),
        })
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
          // Answered in time: counted.
          const inTime = await Promise.all(Array.from({ length: 20 }, () => limiter.limit('id')))
          expect(inTime.map((d) => d.reason)).toEqual(Array(20).fill('allowed'))

          const hangs =
            hang === 'CLIENT PAUSE'
              ? admin.call('CLIENT', 'PAUSE', String(HANG_MS), 'ALL')
              : admin.call('DEBUG', 'SLEEP', String(HANG_MS / 1000))
          if (hang === 'CLIENT PAUSE') await hangs
          // DEBUG SLEEP answers when it is over: let Redis read it first.
          else await sleep(50)

          // Sent while Redis hangs, 20 calls a round, one round every 20 ms: all store failures.
          const during: Promise<Decision>[] = []
          for (let round = 0; round < 10; round++) {
            for (let i = 0; i < 20; i++) during.push(limiter.limit('id'))
            await sleep(20)
          }
          const answered = await Promise.all(during)
          expect(answered.map((d) => [d.reason, d.allowed])).toEqual(
            Array(200).fill(['store-error', onStoreError === 'allow']),
          )

          // Redis resumes and runs what was written to it: none of it counts.
          await hangs
          await admin.ping()
          await c.drain()
          await sleep(300)
          expect(await counted(prefix, 'id')).toBe(20)

          // And it limits again.
          expect((await answering(limiter, 'id')).reason).toBe('allowed')
          await c.drain()
          expect(await counted(prefix, 'id')).toBe(21)
        } finally {
          await limiter.close()
          await c.close()
        }
      }, 30_000)
    }
  })
})
