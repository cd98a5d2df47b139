import { ERROR_CODES, FloodgateError } from '../errors.js'

/**
 * Refuses a client given where a store's options go (`redisStore(client)`), naming the fix, rather
 * than naming the client's first property as an unknown option (`"options"`, `"_events"`) or, for
 * a client with none of its own (node-redis 6), reporting the client missing. Options that hold a
 * client under the store's name for it are options, whatever they inherit.
 */
export function refuseClientAsOptions(
  o: Record<string, unknown>,
  store: 'redisStore' | 'upstashStore',
): void {
  const slot = store === 'redisStore' ? 'client' : 'redis'
  const client = typeof o.evalsha === 'function' || typeof o.evalSha === 'function'
  if (!client || Object.hasOwn(o, slot)) return
  throw new FloodgateError(
    ERROR_CODES.INVALID_OPTION,
    `Invalid \`${store}(options)\`: got a Redis client; pass it as \`${slot}\`: \`${store}({ ${slot} })\`.`,
    { option: `${store}(options)`, value: o },
  )
}

/** The fix for an option of `upstashStore` given to `redisStore`. */
export const REDIS_STORE_HINTS: Readonly<Record<string, string>> = {
  redis: "The client goes in `client`: `redisStore({ client })` (`redis` is upstashStore's name for it).",
}

const UPSTASH_CLIENT =
  'upstashStore takes an @upstash/redis client, not its settings: `upstashStore({ redis: new Redis({ url, token, retry: { retries: 0 } }) })`.'

/** The fix for an option of `redisStore`, or an @upstash/redis setting, given to `upstashStore`. */
export const UPSTASH_STORE_HINTS: Readonly<Record<string, string>> = {
  client: "The client goes in `redis`: `upstashStore({ redis })` (`client` is redisStore's name for it).",
  url: UPSTASH_CLIENT,
  token: UPSTASH_CLIENT,
}
