import { rejectUnknownOptions, requireObject } from '../policies/common.js'
import type { RateLimitStore } from '../store.js'
import { checkClock } from '../store-clock.js'
import { checkLogger, type Logger } from '../warnings.js'
import { detectClient, type RedisClient } from './clients.js'
import { createScriptStore, MAX_BATCH } from './script-store.js'
import { REDIS_STORE_HINTS, refuseClientAsOptions } from './store-options.js'

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /**
   * An ioredis `Redis` / `Cluster` or a node-redis `createClient()` / `createCluster()` client,
   * connected, set up as docs/stores.md says (no offline queue, no automatic re-send).
   * The store never closes it.
   */
  client: RedisClient
  /** Returns epoch ms, for tests. Default: the Redis server's clock, so app servers agree. */
  clock?: (() => number) | undefined
  /**
   * Where the one-time client settings warning goes. Default: the `logger` of the first limiter
   * given this store, under its `silenceWarnings` (`console` for a store used before any limiter is
   * given it); `false` silences it.
   */
  logger?: Logger | undefined
}

const OPTIONS = ['client', 'clock', 'logger'] as const

/**
 * Counters in Redis: one Lua script per decision, every policy of the request in one atomic step,
 * on the Redis server's clock. The decisions started in one tick share one EVALSHA (up to
 * `MAX_BATCH`, except on a Cluster). See docs/stores.md.
 */
export function redisStore(options: RedisStoreOptions): RateLimitStore {
  const o = requireObject(options, 'redisStore(options)')
  refuseClientAsOptions(o, 'redisStore')
  rejectUnknownOptions(o, OPTIONS, 'redisStore()', REDIS_STORE_HINTS)
  const detected = detectClient(o.client)
  const clock = checkClock(o.clock, 'redisStore.clock')
  const logger = checkLogger(o.logger, 'redisStore.logger')
  return createScriptStore(detected.runner, {
    name: 'redis',
    clock,
    // One call's keys must share a Cluster slot: a cluster client sends each decision alone.
    maxBatch: detected.cluster ? 1 : MAX_BATCH,
    replyTimeoutMs: detected.replyTimeoutMs,
    commandTimeoutMs: detected.commandTimeoutMs,
    socketTimeoutMs: detected.socketTimeoutMs,
    socketTimeoutFromWrite: detected.socketTimeoutFromWrite,
    // A Cluster's nodes may not agree on the time: its clock is learned per slot.
    clockPerSlot: detected.cluster,
    counterSpace: o.client as object,
    clientWarning:
      detected.problems.length === 0
        ? undefined
        : {
            client: o.client as object,
            logger,
            message: `The ${detected.library} client given to redisStore() should be created with ${detected.problems.join(', ')}. See docs/stores.md.`,
          },
  })
}
