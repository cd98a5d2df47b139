import {
  describeRedisServer,
  type RedisCluster,
  type RedisServer,
  startRedisCluster,
  startRedisServer,
} from '@floodgate/tools'
import { createClient as createClient6, createCluster as createCluster6 } from 'redis'
import { createClient as createClient4, createCluster as createCluster4 } from 'redis4'
import { createClient as createClient5, createCluster as createCluster5 } from 'redis5'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../errors.js'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import { detectClient } from './clients.js'
import { redisStore } from './redis-store.js'

// The peer range takes node-redis 4, 5 and 6 (docs/stores.md says so). Each major, on one server
// and on a Cluster: recognised for what it is (a Cluster sends each decision alone, as one call's
// keys must share a slot), and limiting, peeking and resetting, with concurrent decisions. node-redis
// 4's cluster keeps its options in a private field: it used to be taken for one server, and every
// batch of concurrent decisions failed with CROSSSLOT; and its evalSha and eval, routed by a key
// they never find, went to a random node, so a few calls in a hundred failed with MOVED.

interface Major {
  name: string
  client(url: string): { connect(): Promise<unknown>; on(event: 'error', f: () => void): unknown }
  cluster(urls: string[]): { connect(): Promise<unknown>; on(event: 'error', f: () => void): unknown }
}

const MAJORS: Major[] = [
  {
    name: 'node-redis 4',
    client: (url) => createClient4({ url, disableOfflineQueue: true }),
    cluster: (urls) =>
      createCluster4({ rootNodes: urls.map((url) => ({ url })), defaults: { disableOfflineQueue: true } }),
  },
  {
    name: 'node-redis 5',
    client: (url) => createClient5({ url, disableOfflineQueue: true }),
    cluster: (urls) =>
      createCluster5({ rootNodes: urls.map((url) => ({ url })), defaults: { disableOfflineQueue: true } }),
  },
  {
    name: 'node-redis 6',
    client: (url) => createClient6({ url, disableOfflineQueue: true }),
    cluster: (urls) =>
      createCluster6({ rootNodes: urls.map((url) => ({ url })), defaults: { disableOfflineQueue: true } }),
  },
]

describeRedisServer('node-redis 4, 5 and 6', () => {
  let server: RedisServer
  let cluster: RedisCluster
  beforeAll(async () => {
    ;[server, cluster] = await Promise.all([startRedisServer(), startRedisCluster({ masters: 3 })])
  })
  afterAll(async () => {
    await Promise.all([server?.stop(), cluster?.stop()])
  })

  describe.each(MAJORS)('$name', (major) => {
    it.each(['one server', 'a Cluster'] as const)(
      'on %s: detected as such, limits, peeks and resets',
      async (kind) => {
        const urls = cluster.nodes.map((n) => `redis://${n.host}:${n.port}`)
        const client = kind === 'one server' ? major.client(server.url) : major.cluster(urls)
        client.on('error', () => undefined)
        await client.connect()
        const detected = detectClient(client as never)
        expect([detected.library, detected.cluster, detected.problems]).toEqual([
          'node-redis',
          kind === 'a Cluster',
          [],
        ])
        const limiter = createRateLimiter({
          policies: [
            tokenBucket({ name: 'burst', capacity: 3, refillRate: 1, interval: '1 m' }),
            fixedWindow({ limit: 5, window: '1 h' }),
          ],
          store: redisStore({ client: client as never }),
          prefix: `${major.name.replace(' ', '')}-${kind === 'one server' ? 'one' : 'cluster'}`,
          logger: false,
        })
        try {
          // Decisions of one tick on identifiers in different slots, four times each (enough of them
          // that a call sent to a wrong node, which node-redis 4 did about once in 30, shows).
          const ids = Array.from({ length: 40 }, (_, i) => `user:${i}`)
          const rounds: string[][] = []
          for (let round = 0; round < 4; round++) {
            const decisions = await Promise.all(ids.map((id) => limiter.limit(id)))
            rounds.push(decisions.map((d) => d.reason))
          }
          expect(rounds).toEqual([
            ids.map(() => 'allowed'),
            ids.map(() => 'allowed'),
            ids.map(() => 'allowed'),
            ids.map(() => 'limited'),
          ])
          expect((await limiter.peek('user:0')).reason).toBe('limited')
          await limiter.reset('user:0')
          expect((await limiter.limit('user:0')).reason).toBe('allowed')
        } finally {
          await limiter.close()
          await (client as unknown as { quit?(): Promise<unknown>; close?(): Promise<unknown> }).quit?.()
        }
      },
    )
  })

  it("node-redis 4 in legacyMode: decides through its promise API, with the client's own settings read", async () => {
    // Its commands take callbacks and return nothing: the first decision used to throw out of a
    // nextTick and end the process, and a reset resolved having deleted nothing.
    const queued = createClient4({ url: server.url, legacyMode: true })
    expect(detectClient(queued).problems).toEqual([expect.stringContaining('disableOfflineQueue')])
    const client = createClient4({ url: server.url, legacyMode: true, disableOfflineQueue: true })
    client.on('error', () => undefined)
    // A clock that stands still (an hour boundary): on Redis's clock an hour's end between the
    // counted requests would admit the third.
    const store = redisStore({ client, clock: () => 500_000 * 3_600_000 })
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 2, window: '1 h' }),
      store,
      logger: false,
    })
    try {
      // Not connected yet: refused at once as not connected, not left to time out.
      expect(await limiter.limit('legacy')).toMatchObject({
        reason: 'store-error',
        error: { message: expect.stringMatching(/not connected|closed/) },
      })
      await client.connect()
      const reasons = []
      for (let i = 0; i < 3; i++) reasons.push((await limiter.limit('legacy')).reason)
      expect(reasons).toEqual(['allowed', 'allowed', 'limited'])
      await limiter.reset('legacy')
      expect((await limiter.peek('legacy')).remaining).toBe(1)
    } finally {
      await limiter.close()
      await client.v4.quit()
    }
  })

  it.each([
    ['node-redis 5', () => createClient5({ url: server.url, disableOfflineQueue: true })],
    ['node-redis 6', () => createClient6({ url: server.url, disableOfflineQueue: true })],
  ])('%s: refuses the callback wrapper client.legacy() when the store is created', (_name, create) => {
    // legacyMode's successor: its commands take callbacks and return nothing. It used to be taken
    // for a client, every decision was a store failure, and each call emitted an `error` on the
    // client, which ends the process when nothing listens.
    const legacy = create().legacy()
    expect(() => redisStore({ client: legacy as never })).toThrow(
      expect.objectContaining({
        code: ERROR_CODES.INVALID_OPTION,
        message: expect.stringContaining('`client.legacy()`'),
      }),
    )
  })
})
