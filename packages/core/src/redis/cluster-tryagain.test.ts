import {
  describeRedisServer,
  expectNoUnhandledRejections,
  type RedisCluster,
  sendRespCommand,
  startRedisCluster,
} from '@floodgate/tools'
import { Cluster } from 'ioredis'
import { createCluster } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FloodgateError } from '../errors.js'
import { createRateLimiter, type RateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import type { RateLimitStore } from '../store.js'
import { cachedDigest, clusterSlot, counterKeys } from './keys.js'
import { redisStore } from './redis-store.js'

// A slot moved while a two-policy decision's keys are half on each node: Redis answers TRYAGAIN to
// the script (or the reset's) naming both keys, and runs nothing. ioredis sends the command again
// itself; node-redis fails it, and the store used to pass that on as a store failure (a reset
// rejected). The store now sends it again while the call's deadline allows. Each test moves the
// slot of its own identifier by hand, as `redis-cli --cluster reshard` does, and holds it half-moved
// until Redis has answered TRYAGAIN at least once.

type Library = 'ioredis' | 'node-redis'

const HOST = '127.0.0.1'
// The stores' clock stands still at an hour boundary: each test counts across a second or more of
// real time (moving slots by hand), and on Redis's own clock a minute's end could fall in it (the
// first key expired before MIGRATE moved it: NOKEY). TRYAGAIN, resends and deadlines run on real
// time whatever the clock.
const CLOCK_MS = 500_000 * 3_600_000
const clock = () => CLOCK_MS
const POLICIES = [
  fixedWindow({ name: 'minute', limit: 10, window: '1 m' }),
  fixedWindow({ name: 'hour', limit: 100, window: '1 h' }),
]

describeRedisServer('TRYAGAIN while a slot moves, on a Redis Cluster', () => {
  expectNoUnhandledRejections()
  let cluster: RedisCluster
  /** Each node's port and Cluster node id. */
  let nodes: { port: number; id: string }[]

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 2 })
    nodes = await Promise.all(
      cluster.nodes.map(async ({ port }) => ({
        port,
        id: String(await sendRespCommand(HOST, port, ['CLUSTER', 'MYID'])),
      })),
    )
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  async function run(port: number, args: string[]): Promise<unknown> {
    const reply = await sendRespCommand(HOST, port, args)
    if (reply instanceof Error) throw new Error(`${args.join(' ')} on ${port}: ${reply.message}`)
    return reply
  }

  /** Redis's count of TRYAGAIN answers on the node at `port`. */
  async function tryAgains(port: number): Promise<number> {
    const info = String(await run(port, ['INFO', 'errorstats']))
    return Number(/errorstat_TRYAGAIN:count=(\d+)/.exec(info)?.[1] ?? 0)
  }

  /**
   * Puts the identifier's slot in migration from its node to the other one and moves its first
   * key only, as `redis-cli --cluster reshard` would between two MIGRATE calls. `finish` moves the
   * rest and hands the slot over (idempotent).
   */
  async function halfMove(
    prefix: string,
    id: string,
  ): Promise<{ source: number; waitForTryAgain(count: number): Promise<void>; finish(): Promise<void> }> {
    const slot = String(clusterSlot(cachedDigest(id)))
    const slots = (await run(nodes[0]!.port, ['CLUSTER', 'SLOTS'])) as [number, number, [string, number]][]
    const ownerPort = slots.find(([from, to]) => Number(slot) >= from && Number(slot) <= to)![2][1]
    const source = nodes.find((n) => n.port === ownerPort)!
    const target = nodes.find((n) => n !== source)!
    const keys = counterKeys(prefix, id, POLICIES)
    await run(target.port, ['CLUSTER', 'SETSLOT', slot, 'IMPORTING', source.id])
    await run(source.port, ['CLUSTER', 'SETSLOT', slot, 'MIGRATING', target.id])
    expect(await run(source.port, ['MIGRATE', HOST, String(target.port), keys[0]!, '0', '5000'])).toBe('OK')
    const before = await tryAgains(source.port)
    let finished = false
    return {
      source: source.port,
      // Bounded polling: the call is refused within a round trip or two.
      async waitForTryAgain(count) {
        const giveUpAt = performance.now() + 5_000
        while ((await tryAgains(source.port)) < before + count) {
          if (performance.now() > giveUpAt) throw new Error(`no TRYAGAIN from ${source.port}`)
        }
      },
      async finish() {
        if (finished) return
        finished = true
        for (const key of keys)
          await run(source.port, ['MIGRATE', HOST, String(target.port), key, '0', '5000'])
        await run(target.port, ['CLUSTER', 'SETSLOT', slot, 'NODE', target.id])
        await run(source.port, ['CLUSTER', 'SETSLOT', slot, 'NODE', target.id])
      },
    }
  }

  /**
   * A client set up as docs/stores.md recommends for a Cluster, with its command timeout (the docs'
   * 200 ms unless a test needs room for the slot to move by hand on a loaded machine).
   */
  async function client(
    library: Library,
    timeoutMs: number,
  ): Promise<{ store: RateLimitStore; close(): Promise<void> }> {
    if (library === 'ioredis') {
      const c = new Cluster(cluster.nodes, {
        enableOfflineQueue: false,
        retryDelayOnFailover: 0,
        retryDelayOnClusterDown: 0,
        redisOptions: { commandTimeout: timeoutMs, socketTimeout: timeoutMs + 20 },
      })
      c.on('error', () => undefined)
      await new Promise((resolve) => c.once('ready', resolve))
      await Promise.all(c.nodes('master').map((node) => node.ping()))
      return { store: redisStore({ client: c, clock }), close: async () => c.disconnect() }
    }
    const c = createCluster({
      rootNodes: cluster.nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })),
      commandOptions: { timeout: timeoutMs },
      topologyRefreshOnReconnectionAttemptStrategy: 300,
      defaults: {
        disableOfflineQueue: true,
        socket: { socketTimeout: 5_000, reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2_000) },
      },
    })
    c.on('error', () => undefined)
    await c.connect()
    return { store: redisStore({ client: c, clock }), close: async () => void c.destroy() }
  }

  describe.each<Library>(['ioredis', 'node-redis'])('%s', (library) => {
    let serial = 0
    /**
     * A limiter on its own client. Deadlines are the docs' (200 ms, the limiter's 250 ms) where a
     * test is about them; else 2 s, so that moving the slot by hand after the first TRYAGAIN (five
     * commands on new connections) fits before a call's deadline however loaded the machine.
     */
    async function setUp(deadlines: 'docs' | 'roomy' = 'roomy'): Promise<{
      limiter: RateLimiter
      store: RateLimitStore
      prefix: string
      failures: FloodgateError[]
      close(): Promise<void>
    }> {
      const { store, close } = await client(library, deadlines === 'docs' ? 200 : 2_000)
      const failures: FloodgateError[] = []
      const prefix = `tryagain-${library}-${++serial}-${Date.now()}`
      const limiter = createRateLimiter({
        policies: POLICIES,
        store,
        prefix,
        timeout: deadlines === 'docs' ? undefined : '2 s',
        logger: false,
        onStoreFailure: (error) => void failures.push(error),
      })
      return {
        limiter,
        store,
        prefix,
        failures,
        close: async () => {
          await limiter.close()
          await close()
        },
      }
    }

    it('decides a call that met TRYAGAIN once the slot has moved, counting it once', async () => {
      const { limiter, prefix, failures, close } = await setUp()
      const id = `${library}-a`
      try {
        // Both keys exist on the source before the move.
        expect((await limiter.limit(id)).policies.map((p) => p.remaining)).toEqual([9, 99])
        const half = await halfMove(prefix, id)
        try {
          const decision = limiter.limit(id)
          await half.waitForTryAgain(1)
          await half.finish()
          const decided = await decision
          expect(decided.error?.message).toBeUndefined()
          expect(decided.reason).toBe('allowed')
          expect(decided.policies.map((p) => p.remaining)).toEqual([8, 98])
          // Counted once: the next call sees one more on each key.
          expect((await limiter.limit(id)).policies.map((p) => p.remaining)).toEqual([7, 97])
          expect(failures).toEqual([])
        } finally {
          await half.finish()
        }
      } finally {
        await close()
      }
    })

    it('resets keys that met TRYAGAIN once the slot has moved', async () => {
      const { limiter, prefix, failures, close } = await setUp()
      const id = `${library}-b`
      try {
        expect((await limiter.limit(id)).reason).toBe('allowed')
        expect((await limiter.limit(id)).policies.map((p) => p.remaining)).toEqual([8, 98])
        const half = await halfMove(prefix, id)
        try {
          // Its outcome is taken at once: a rejection must not wait unhandled for the awaits below.
          const reset = limiter.reset(id).then(
            () => undefined,
            (error: unknown) => error,
          )
          await half.waitForTryAgain(1)
          await half.finish()
          expect(await reset).toBeUndefined()
          // Counted from zero again: the reset deleted both keys.
          expect((await limiter.limit(id)).policies.map((p) => p.remaining)).toEqual([9, 99])
          expect(failures).toEqual([])
        } finally {
          await half.finish()
        }
      } finally {
        await close()
      }
    })

    it('fails a call at its deadline when the slot stays half-moved, counting nothing', async () => {
      const { limiter, store, prefix, failures, close } = await setUp('docs')
      const id = `${library}-c`
      try {
        expect((await limiter.limit(id)).policies.map((p) => p.remaining)).toEqual([9, 99])
        const half = await halfMove(prefix, id)
        try {
          const decision = await limiter.limit(id)
          expect(decision.reason).toBe('store-error')
          expect(failures).toHaveLength(1)
          // Sent again until the deadline (the client's 200 ms command timeout, the limiter's
          // 250 ms), not failed at the first TRYAGAIN: Redis refused it more than once.
          await half.waitForTryAgain(2)
        } finally {
          await half.finish()
        }
        // Nothing counted, nothing left waiting in the client.
        expect((await limiter.limit(id)).policies.map((p) => p.remaining)).toEqual([8, 98])
        expect((store as unknown as { commandsHeld: number }).commandsHeld).toBe(0)
      } finally {
        await close()
      }
    })

    if (library === 'node-redis')
      it('fails a call waiting to go again at once when the store is closed', async () => {
        const { limiter, store, prefix, close } = await setUp()
        const id = `${library}-e`
        try {
          expect((await limiter.limit(id)).reason).toBe('allowed')
          const half = await halfMove(prefix, id)
          try {
            const decision = limiter.limit(id)
            await half.waitForTryAgain(1)
            await store.close()
            const decided = await decision
            expect(decided.reason).toBe('store-error')
            // Failed by close() (no timer is left behind), not by its deadline.
            expect(decided.error?.message).toMatch(/closed while a call waited to be sent again/)
          } finally {
            await half.finish()
          }
        } finally {
          await close()
        }
      })

    // node-redis only: the store sends both again itself. ioredis's own resends were seen to run
    // the decision first on the slot's new node and the reset after it (MONITOR: EVALSHA, then DEL),
    // so the decision made after the reset was not counted.
    if (library === 'node-redis')
      it('keeps a decision made after a reset counted when both meet TRYAGAIN', async () => {
        const { limiter, prefix, close } = await setUp()
        const id = `${library}-d`
        try {
          expect((await limiter.limit(id)).policies.map((p) => p.remaining)).toEqual([9, 99])
          const half = await halfMove(prefix, id)
          try {
            const reset = limiter.reset(id).then(
              () => true,
              () => false,
            )
            const decision = limiter.limit(id)
            await half.waitForTryAgain(2)
            await half.finish()
            const [resetDone, decided] = await Promise.all([reset, decision])
            expect(decided.reason).toBe('allowed')
            // Decided after the reset when the reset went through, else on the count before it.
            expect(decided.policies.map((p) => p.remaining)).toEqual(resetDone ? [9, 99] : [8, 98])
            // The decision made after the reset counts: the reset did not run after it.
            const next = await limiter.limit(id)
            expect(next.policies.map((p) => p.remaining)).toEqual(resetDone ? [8, 98] : [7, 97])
          } finally {
            await half.finish()
          }
        } finally {
          await close()
        }
      })
  })
})
