// Picks the store from the environment, the way the Upstash clients read it:
//   REDIS_URL                                          → redisStore over ioredis
//   UPSTASH_REDIS_REST_URL + UPSTASH_REDIS_REST_TOKEN  → upstashStore over @upstash/redis
//   neither                                            → the memory store (one process only)
// Client libraries are imported only on the path that needs them.
import type { EventEmitter } from 'node:events'
import { memoryStore, type RateLimitStore } from '@floodgate/core'

export type StoreKind = 'memory' | 'redis' | 'upstash'

export interface EnvStore {
  kind: StoreKind
  store: RateLimitStore
  /** Where the counters live, for a log line (never includes a password or token). */
  description: string
  /** Closes the store and any client opened for it. */
  close(): Promise<void>
}

export type Env = Record<string, string | undefined>

export async function storeFromEnv(env: Env = process.env): Promise<EnvStore> {
  const redisUrl = nonEmpty(env.REDIS_URL)
  const upstashUrl = nonEmpty(env.UPSTASH_REDIS_REST_URL)
  const upstashToken = nonEmpty(env.UPSTASH_REDIS_REST_TOKEN)
  // REDIS_URL wins when both are set (the store line printed at start says which one is used).
  if (redisUrl !== undefined) return redisFromUrl(redisUrl)
  if (upstashUrl !== undefined || upstashToken !== undefined) {
    if (upstashUrl === undefined || upstashToken === undefined) {
      throw new Error(
        'Set both UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (found only one), or neither to use the memory store.',
      )
    }
    return upstash(upstashUrl, upstashToken)
  }
  const store = memoryStore()
  return {
    kind: 'memory',
    store,
    description: 'memory (this process only)',
    close: async () => store.close(),
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim()
}

async function redisFromUrl(url: string): Promise<EnvStore> {
  const [{ Redis }, { redisStore }] = await Promise.all([import('ioredis'), import('@floodgate/core/redis')])
  // As docs/stores.md says: no offline queue (a request fails fast instead of waiting for Redis),
  // no automatic re-send (a decision cut off by a reconnect must not count twice), and client
  // timeouts just under the limiter's 250 ms deadline, so a silent Redis drops the connection
  // instead of piling up unanswered commands.
  const cannot = (error: unknown) =>
    new Error(
      `Cannot connect to the Redis at REDIS_URL (${redacted(url)}): ${sentence((error as Error).message)} Unset REDIS_URL to run on the memory store.`,
      { cause: error },
    )
  let client: InstanceType<typeof Redis>
  try {
    client = new Redis(url, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 200,
      socketTimeout: 220,
      retryStrategy: (attempt: number) => Math.min(attempt * 50, 1_000), // back within a second of Redis
      connectTimeout: 2_000,
      lazyConnect: true,
    })
  } catch (error) {
    throw cannot(error) // a URL ioredis cannot parse (`redis://host:notaport`)
  }
  // Why the client cannot reach Redis (a wrong password, nothing listening) comes only as 'error'
  // events: the first one of each kind is logged, not every reconnect attempt's.
  let connected = false
  const lastError = logClientErrors(client, (line) => {
    if (connected) console.error(line)
  })
  try {
    await client.connect()
    connected = true
  } catch (error) {
    client.disconnect()
    throw cannot(lastError() ?? error)
  }
  const store = redisStore({ client })
  return {
    kind: 'redis',
    store,
    description: `redis ${redacted(url)}`,
    async close() {
      await store.close()
      // QUIT needs a connection: while Redis is away, just drop the client.
      await client.quit().catch(() => client.disconnect())
    },
  }
}

/**
 * Logs a Redis client's 'error' events, each message once until the client is ready again: not
 * every reconnect attempt's, even when they alternate (a Redis that takes connections and answers
 * nothing gives a socket timeout and a command timeout by turns). Returns the last error, which
 * says why a connection at start failed.
 */
export function logClientErrors(
  client: Pick<EventEmitter, 'on'>,
  log: (line: string) => void,
): () => Error | undefined {
  let last: Error | undefined
  const logged = new Set<string>()
  client.on('error', (error: Error) => {
    last = error
    if (logged.has(error.message)) return
    // Bounded: messages that differ every time (none of ioredis's do) are each logged then.
    if (logged.size < 64) logged.add(error.message)
    log(`redis: ${error.message}`)
  })
  client.on('ready', () => {
    last = undefined
    logged.clear()
  })
  return () => last
}

async function upstash(url: string, token: string): Promise<EnvStore> {
  const [{ Redis }, { upstashStore }] = await Promise.all([
    import('@upstash/redis'),
    import('@floodgate/core/upstash'),
  ])
  // No automatic retry: a retried request that had already reached Redis would count twice. A
  // request Upstash never answers is ended, or it would keep the process alive after shutdown (after
  // the start-up check's own PING_TIMEOUT_MS, which says what went wrong).
  let redis: InstanceType<typeof Redis>
  try {
    redis = new Redis({
      url,
      token,
      retry: { retries: 0 },
      signal: () => AbortSignal.timeout(PING_TIMEOUT_MS + 500),
    })
  } catch (error) {
    throw new Error(
      `UPSTASH_REDIS_REST_URL (${redacted(url)}) is not a URL the client takes: ${sentence((error as Error).message)} It starts with https:// (http:// for a local server).`,
      { cause: error },
    )
  }
  // Checked once at start, as REDIS_URL is: a wrong token or URL is no outage, and under the
  // default onStoreError 'allow' the app would otherwise run with every request unlimited.
  let timer: NodeJS.Timeout | undefined
  try {
    // Bounded, as the Redis check is by its client's timeouts: a server that takes the connection
    // and never answers must not hang the start silently.
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer within 2 s')), PING_TIMEOUT_MS)
      }),
    ])
  } catch (error) {
    throw new Error(
      `Cannot reach Upstash at UPSTASH_REDIS_REST_URL (${redacted(url)}) with UPSTASH_REDIS_REST_TOKEN: ${sentence((error as Error).message)} Unset both to run on the memory store.`,
      { cause: error },
    )
  } finally {
    clearTimeout(timer)
  }
  const store = upstashStore({ redis })
  return {
    kind: 'upstash',
    store,
    description: `upstash ${redacted(url)}`,
    close: async () => store.close(),
  }
}

/** How long the Upstash check at start waits for its answer. */
const PING_TIMEOUT_MS = 2_000

/** A client's message as a sentence: one full stop at its end. */
function sentence(message: string): string {
  return message.endsWith('.') ? message : `${message}.`
}

/**
 * The URL without credentials, for logs: scheme, host and path only (ioredis also reads a password
 * from the query, `?password=`).
 */
export function redacted(url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}${u.pathname}`
  } catch {
    return '(unparseable URL)'
  }
}
