import { ERROR_CODES, FloodgateError } from '../errors.js'
import { rejectUnknownOptions, requireObject } from '../policies/common.js'
import { createScriptStore } from '../redis/script-store.js'
import { refuseClientAsOptions, UPSTASH_STORE_HINTS } from '../redis/store-options.js'
import type { RateLimitStore } from '../store.js'
import { checkClock } from '../store-clock.js'
import { checkLogger, type Logger } from '../warnings.js'

/** The few `@upstash/redis` methods the store calls (`new Redis({ url, token, retry })`). */
export interface UpstashRedisClient {
  /** Runs a cached Lua script by its SHA1. */
  evalsha(sha1: string, keys: string[], args: string[]): Promise<unknown>
  /** Runs a Lua script (only after a NOSCRIPT answer). */
  eval(script: string, keys: string[], args: string[]): Promise<unknown>
  /** Deletes keys, for `reset`. */
  del(...keys: string[]): Promise<number>
}

/** Options of {@link upstashStore}. */
export interface UpstashStoreOptions {
  /**
   * An `@upstash/redis` client created with `retry: { retries: 0 }`: its automatic retry re-sends
   * a request whose answer was lost, which may already have counted (`retry: false` still retries
   * once in @upstash/redis 1.x). The store never closes it.
   */
  redis: UpstashRedisClient
  /** Returns epoch ms, for tests. Default: the Redis server's clock. */
  clock?: (() => number) | undefined
  /**
   * Where the one-time client settings warning goes. Default: the `logger` of the first limiter
   * given this store, under its `silenceWarnings` (`console` for a store used before any limiter is
   * given it); `false` silences it.
   */
  logger?: Logger | undefined
}

const OPTIONS = ['redis', 'clock', 'logger'] as const

/**
 * Counters in Upstash Redis over REST: the same Lua script as `redisStore`, one HTTP request per
 * decision (concurrent decisions may share one when the client auto-pipelines).
 */
export function upstashStore(options: UpstashStoreOptions): RateLimitStore {
  const o = requireObject(options, 'upstashStore(options)')
  refuseClientAsOptions(o, 'upstashStore')
  rejectUnknownOptions(o, OPTIONS, 'upstashStore()', UPSTASH_STORE_HINTS)
  const redis = o.redis as UpstashRedisClient
  const expected =
    '`upstashStore` takes an @upstash/redis client, `new Redis({ url, token, retry: { retries: 0 } })`.'
  // A Redis client over TCP: ioredis has `evalsha` and `eval` too, with another signature, so every
  // call would fail (and pass under onStoreError 'allow').
  const library =
    redis === null || typeof redis !== 'object'
      ? undefined
      : typeof (redis as { evalSha?: unknown }).evalSha === 'function'
        ? 'a node-redis'
        : typeof (redis as { defineCommand?: unknown }).defineCommand === 'function'
          ? 'an ioredis'
          : undefined
  if (library !== undefined) {
    throw new FloodgateError(
      ERROR_CODES.INVALID_OPTION,
      `Invalid \`upstashStore.redis\`: got ${library} client. Give it to \`redisStore({ client })\` from \`@floodgate/core/redis\`; ${expected}`,
      { option: 'upstashStore.redis', value: redis },
    )
  }
  if (
    redis === null ||
    typeof redis !== 'object' ||
    typeof redis.evalsha !== 'function' ||
    typeof redis.eval !== 'function'
  ) {
    throw new FloodgateError(ERROR_CODES.INVALID_OPTION, `Invalid \`upstashStore.redis\`: ${expected}`, {
      option: 'upstashStore.redis',
      value: redis,
    })
  }
  if (lacksCredentials(redis)) {
    throw new FloodgateError(
      ERROR_CODES.INVALID_OPTION,
      `Invalid \`upstashStore.redis\`: the @upstash/redis client has no URL or no token, so every call would fail (\`Redis.fromEnv()\` reads UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN: are they set?). ${expected}`,
      { option: 'upstashStore.redis', value: redis },
    )
  }
  const clock = checkClock(o.clock, 'upstashStore.clock')
  const logger = checkLogger(o.logger, 'upstashStore.logger')
  const attempts = retryAttempts(redis)
  return createScriptStore(
    {
      evalsha: (sha1, keys, args) => redis.evalsha(sha1, keys, args),
      eval: (script, keys, args) => redis.eval(script, keys, args),
      del: (keys) => redis.del(...keys),
    },
    // One decision per call: its client already pipelines the calls of one tick into one request.
    // Its HTTP requests are independent: when it seems silent, one request a second still goes out
    // to find out, so one lost request cannot stop the store, and an outage cannot pile requests up.
    {
      name: 'upstash',
      clock,
      maxBatch: 1,
      probeWhenStalled: true,
      counterSpace: redis,
      clientWarning:
        attempts === 0
          ? undefined
          : {
              client: redis,
              logger,
              message: `The @upstash/redis client given to upstashStore() retries failed requests${attempts === undefined ? ' (its retry setting could not be read)' : ` ${attempts} time(s)`}; a retried request that had already reached Redis counts twice. Create it with \`retry: { retries: 0 }\`. See docs/stores.md.`,
            },
    },
  )
}

/**
 * Whether an @upstash/redis client was made without a URL or a token (`Redis.fromEnv()` with the
 * variables unset): it fails every command. Read from its HTTP client, when there is one to read.
 * A token left undefined still passes its own check (`Bearer undefined`), so the header is read too.
 */
export function lacksCredentials(redis: unknown): boolean {
  const client = (
    redis as
      | { client?: { hasCredentials?: unknown; headers?: { authorization?: unknown } } }
      | null
      | undefined
  )?.client
  if (client?.hasCredentials === false) return true
  const authorization = client?.headers?.authorization
  if (typeof authorization !== 'string') return false
  const token = authorization.slice(authorization.indexOf(' ') + 1).trim()
  return token === '' || token === 'undefined' || token === 'null'
}

/** Retries the client's HTTP layer makes after a network error (undefined when unknown). */
function retryAttempts(redis: object): number | undefined {
  const attempts = (redis as { client?: { retry?: { attempts?: unknown } } }).client?.retry?.attempts
  return typeof attempts === 'number' ? attempts : undefined
}
