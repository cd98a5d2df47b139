import { ERROR_CODES, FloodgateError } from '../errors.js'
import type { ScriptRunner } from './script-store.js'

/** A reset's DEL, as a script (see the node-redis runner). Every key shares one hash tag. */
const DELETE_SCRIPT = "local n = 0 for _, key in ipairs(KEYS) do n = n + redis.call('DEL', key) end return n"

/** The few ioredis methods the store calls; a `Redis` or a `Cluster` from ioredis ≥ 5 fits. */
export interface IoredisClient {
  /** Runs a cached Lua script by its SHA1. */
  evalsha(sha1: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>
  /** Runs a Lua script (only after a NOSCRIPT answer). */
  eval(script: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>
  /** Deletes keys, for `reset`. */
  del(...keys: string[]): Promise<number>
  /** Connection state (`"ready"`, …), read to recognise an ioredis client. */
  readonly status?: string
  /** True on an ioredis `Cluster`. */
  readonly isCluster?: boolean
  /** The client's settings, checked once for risky ones (offline queue, retries). */
  readonly options?: object
  /** Connects a `lazyConnect` client (its failure is also an `error` event). */
  connect?(): Promise<unknown>
}

/** The second argument of node-redis `eval` / `evalSha`. */
interface EvalArguments {
  keys: string[]
  arguments: string[]
}

/** The few node-redis methods the store calls; `createClient()` or `createCluster()` of redis 4–6 fits. */
export interface NodeRedisClient {
  /** Runs a cached Lua script by its SHA1. */
  evalSha(sha1: string, options: EvalArguments): Promise<unknown>
  /** Runs a Lua script (only after a NOSCRIPT answer). */
  eval(script: string, options: EvalArguments): Promise<unknown>
  /** Deletes keys, for `reset`. */
  del(keys: string[]): Promise<number>
  /** Whether the client was connected, read to recognise a node-redis client. */
  readonly isOpen?: boolean
  /** Whether the client is ready for commands. */
  readonly isReady?: boolean
}

/** A client `redisStore` accepts: ioredis (`Redis`, `Cluster`) or node-redis (`createClient`, `createCluster`). */
export type RedisClient = IoredisClient | NodeRedisClient

/** A client wrapped for the script store, with what its settings put at risk. */
export interface DetectedClient {
  library: 'ioredis' | 'node-redis'
  /** A Redis Cluster client: the keys of one call must share one slot. */
  cluster: boolean
  runner: ScriptRunner
  /** Settings that break a promise of the store (double counting, requests piling up), with the fix. */
  problems: string[]
  /**
   * How long the store waits for the reply of a command already written, when the client does not
   * bound that itself: node-redis's `commandOptions.timeout`, which node-redis applies only while a
   * command waits to be written.
   */
  replyTimeoutMs: number | undefined
  /**
   * The client's own timeout on a command from when it is handed over (ioredis `commandTimeout`,
   * node-redis `commandOptions.timeout`): a call it failed must not count after it either.
   */
  commandTimeoutMs: number | undefined
  /**
   * The client's socket timeout, which fails every command on the connection when it fires: ioredis
   * `socketTimeout` runs from the first write with none pending (or the last data received while
   * commands wait); node-redis `socket.socketTimeout` from the last activity on the socket.
   */
  socketTimeoutMs: number | undefined
  /** Whether `socketTimeoutMs` runs from the last write (node-redis) rather than the last reply. */
  socketTimeoutFromWrite: boolean
}

export function detectClient(client: unknown): DetectedClient {
  const c = client as Record<string, unknown> | null
  if (c !== null && typeof c === 'object' && typeof c.evalSha === 'function') {
    // node-redis 4's legacyMode: its commands take callbacks and return nothing. Its `v4` holds
    // the promise API (and none of the options or connection state, read from the client itself).
    if ((c.options as { legacyMode?: unknown } | undefined)?.legacyMode === true) {
      const v4 = c.v4 as Record<string, unknown> | undefined
      if (typeof v4?.evalSha !== 'function') {
        throw new FloodgateError(
          ERROR_CODES.INVALID_OPTION,
          'Invalid `redisStore.client`: got a node-redis client in `legacyMode` without its promise API (`client.v4`); create it without `legacyMode`.',
          { option: 'redisStore.client', value: client },
        )
      }
      return nodeRedis(client as NodeRedisClient, v4 as unknown as NodeRedisClient)
    }
    // node-redis 5 and 6's `client.legacy()`: callback commands that return nothing, with no promise
    // API beside them and no connection state. Every call would fail, and each emit an `error` on
    // the client (which ends the process when nothing listens).
    if (isLegacyWrapper(c)) {
      throw new FloodgateError(
        ERROR_CODES.INVALID_OPTION,
        'Invalid `redisStore.client`: got the callback wrapper of a node-redis client (`client.legacy()`), whose commands return no promise; pass the client itself (`createClient()`).',
        { option: 'redisStore.client', value: client },
      )
    }
    return nodeRedis(client as NodeRedisClient)
  }
  if (c !== null && typeof c === 'object' && typeof c.evalsha === 'function') {
    // @upstash/redis has `evalsha` too, with another signature: every call would fail.
    if (typeof c.createScript === 'function' && typeof c.defineCommand !== 'function') {
      throw new FloodgateError(
        ERROR_CODES.INVALID_OPTION,
        'Invalid `redisStore.client`: got an @upstash/redis client, which speaks REST. Give it to `upstashStore({ redis })` from `@floodgate/core/upstash`; `redisStore` takes an ioredis client (new Redis() or new Cluster()) or a node-redis client (createClient() or createCluster()).',
        { option: 'redisStore.client', value: client },
      )
    }
    return ioredis(client as IoredisClient)
  }
  throw new FloodgateError(
    ERROR_CODES.INVALID_OPTION,
    'Invalid `redisStore.client`: expected an ioredis client (new Redis() or new Cluster()) or a node-redis client (createClient() or createCluster()).',
    { option: 'redisStore.client', value: client },
  )
}

/**
 * node-redis 5 and 6's `RedisLegacyClient` (`client.legacy()`): its class name, or (a bundle that
 * renamed it) its commands set on the object itself under both spellings, with no `isOpen`.
 */
function isLegacyWrapper(c: Record<string, unknown>): boolean {
  if (c.constructor?.name === 'RedisLegacyClient') return true
  return Object.hasOwn(c, 'evalSha') && Object.hasOwn(c, 'EVALSHA') && !('isOpen' in c)
}

/** An ioredis Cluster's options for its node connections. */
function redisOptions(client: IoredisClient): Record<string, unknown> | undefined {
  return (client.options as { redisOptions?: Record<string, unknown> } | undefined)?.redisOptions
}

/** A timeout setting in ms, if set to one. */
function positiveMs(value: unknown): number | undefined {
  return typeof value === 'number' && value > 0 && Number.isFinite(value) ? value : undefined
}

const CLOSED = 'it was closed'

/**
 * The failure of a call made while the client cannot send. Why it cannot (a wrong password, Redis
 * down, an unknown host) is in the client's own `error` events, which belong to the app; a client
 * the app closed has none to say so.
 */
function notConnected(library: string, state: string, cause?: unknown): FloodgateError {
  const why =
    state === CLOSED
      ? 'closed by quit() or disconnect(), or after its retryStrategy gave up; keep it open while limiters use it'
      : "if it cannot connect, its 'error' events say why"
  return new FloodgateError(
    ERROR_CODES.STORE_ERROR,
    `The ${library} client is not connected to Redis (${state}); ${why}.`,
    { cause },
  )
}

/** What ioredis's `status` says of a client that cannot send a command now, or undefined. */
function ioredisNotSending(status: unknown, offlineQueue: boolean): string | undefined {
  if (status === 'reconnecting') return 'it is reconnecting'
  // 'close' is also a dropped connection about to reconnect: only 'end' is the app's doing (or final).
  if (status === 'end') return CLOSED
  if (status === 'close') return 'its connection closed'
  // Not ready yet (connecting, authenticating, or not connected at all under `lazyConnect`): without
  // an offline queue ioredis refuses the command with a message about that option, which misleads.
  if (!offlineQueue && (status === 'wait' || status === 'connecting' || status === 'connect')) {
    return 'it is connecting'
  }
  return undefined
}

/**
 * ioredis's errors for a connection that dropped, which name the very settings docs/stores.md asks
 * for: an operator reading them would be sent to undo a setting that keeps counts exact.
 */
function explainIoredis(error: unknown, maxRetriesPerRequest: unknown): unknown {
  if (!(error instanceof Error)) return error
  // `maxRetriesPerRequest: 0`: a command in flight when the connection closed fails at once. Set
  // otherwise, ioredis's own message names the setting to fix, and it stays.
  if (error.name === 'MaxRetriesPerRequestError' && maxRetriesPerRequest === 0) {
    return new FloodgateError(
      ERROR_CODES.STORE_ERROR,
      "The ioredis client's connection to Redis closed before Redis answered (it may have counted the request); ioredis reports this as its maxRetriesPerRequest limit, which is 0 as it should be.",
      { cause: error },
    )
  }
  // `enableOfflineQueue: false`: a command sent while the connection is down is refused.
  if (error.message.startsWith("Stream isn't writeable"))
    return notConnected('ioredis', 'its connection closed', error)
  return error
}

/** ioredis commands take nested arrays too (`Command` flattens its arguments one level). */
interface FlatArgs {
  evalsha(sha1: string, numKeys: number, keys: string[], args: string[]): Promise<unknown>
  eval(script: string, numKeys: number, keys: string[], args: string[]): Promise<unknown>
}

function ioredis(client: IoredisClient): DetectedClient {
  const options = (client.options ?? {}) as Record<string, unknown>
  const problems: string[] = []
  const offlineQueue = options.enableOfflineQueue !== false
  if (offlineQueue) {
    problems.push('`enableOfflineQueue: false` (otherwise requests queue up while Redis is away)')
  }
  if (client.isCluster === true) {
    // The Cluster re-sends a command whose connection closed, which may already have run.
    if (options.retryDelayOnFailover !== 0) {
      problems.push('`retryDelayOnFailover: 0` (otherwise a decision cut off by a failover may count twice)')
    }
  } else if (options.autoResendUnfulfilledCommands !== false) {
    problems.push(
      '`autoResendUnfulfilledCommands: false` (otherwise a decision in flight when the connection drops counts twice)',
    )
  }
  // A Cluster's node connections, which send the commands, take their settings from `redisOptions`
  // alone: ioredis ignores `commandTimeout` and the like at the Cluster's top level.
  const nodeOptions = client.isCluster === true ? (redisOptions(client) ?? {}) : options
  return {
    library: 'ioredis',
    cluster: client.isCluster === true,
    // ioredis's `commandTimeout` covers a command until its reply.
    replyTimeoutMs: undefined,
    commandTimeoutMs: positiveMs(nodeOptions.commandTimeout),
    socketTimeoutMs: positiveMs(nodeOptions.socketTimeout),
    socketTimeoutFromWrite: false,
    problems,
    runner: {
      // ioredis flattens array arguments one level, so the arrays go as they are (no spread).
      evalsha: (sha1, keys, args) => (client as unknown as FlatArgs).evalsha(sha1, keys.length, keys, args),
      eval: (script, keys, args) => (client as unknown as FlatArgs).eval(script, keys.length, keys, args),
      del: (keys) => client.del(...keys),
      assertReady() {
        const state = ioredisNotSending(client.status, offlineQueue)
        if (state === undefined) return
        // A `lazyConnect` client connects on its first command: this call starts it instead.
        if (client.status === 'wait') client.connect?.().catch(() => undefined)
        throw notConnected('ioredis', state)
      },
      explain: (error) => explainIoredis(error, nodeOptions.maxRetriesPerRequest),
      // A Cluster's slot table: the node keys (`host:port`) of each slot, its master first.
      nodeOf: (slot) => {
        const node = (client as { slots?: unknown[][] }).slots?.[slot]?.[0]
        return typeof node === 'string' ? node : undefined
      },
    },
  }
}

/** `commands`: where commands go, when not the client itself (a legacyMode client's `v4`). */
function nodeRedis(client: NodeRedisClient, commands: NodeRedisClient = client): DetectedClient {
  const raw = client as unknown as {
    options?: Record<string, unknown>
    _options?: Record<string, unknown>
    getMasters?: unknown
  }
  // node-redis 4's cluster keeps its options in a private field: then they cannot be checked.
  const known = raw.options ?? raw._options
  const options = known ?? {}
  // A cluster keeps its per-node client options under `defaults`; only a cluster lists its masters.
  const cluster = Array.isArray(options.rootNodes) || typeof raw.getMasters === 'function'
  const nodeOptions = cluster ? ((options.defaults ?? {}) as Record<string, unknown>) : options
  const problems: string[] = []
  if (known !== undefined && nodeOptions.disableOfflineQueue !== true) {
    problems.push('`disableOfflineQueue: true` (otherwise requests queue up while Redis is away)')
  }
  // node-redis's socket timeout is an idle timer, and its default reconnect strategy gives up on it:
  // the first quiet spell would close the client for good and fail every later decision.
  const socket = (nodeOptions.socket ?? {}) as { socketTimeout?: unknown; reconnectStrategy?: unknown }
  const reconnects =
    typeof socket.reconnectStrategy === 'function' || typeof socket.reconnectStrategy === 'number'
  if (typeof socket.socketTimeout === 'number' && socket.socketTimeout > 0 && !reconnects) {
    problems.push(
      '`socket.reconnectStrategy` beside `socket.socketTimeout`, e.g. `(retries) => Math.min(50 * 2 ** retries, 2000)` (otherwise the client closes for good the first time its socket is idle that long, and every later decision is a store failure)',
    )
  }
  // node-redis 4's cluster (its options private) routes evalSha and eval by a key it never finds
  // (its evalFirstKeyIndex reads the script's arguments where it expects the options), so to a
  // random node, and gives up on MOVED after a few tries: its sendCommand takes the key itself.
  const sendCommand = (commands as unknown as { sendCommand?: unknown }).sendCommand
  const routed =
    cluster && known === undefined && typeof sendCommand === 'function'
      ? (key: string | undefined, args: string[]) =>
          (
            sendCommand as (key: string | undefined, readonly: boolean, args: string[]) => Promise<unknown>
          ).call(commands, key, false, args)
      : undefined
  // A cluster takes its command options at the top level, a client among its own.
  const commandOptions = (options.commandOptions ?? nodeOptions.commandOptions) as
    | { timeout?: unknown }
    | undefined
  const timeout = positiveMs(commandOptions?.timeout)
  return {
    library: 'node-redis',
    cluster,
    problems,
    replyTimeoutMs: timeout,
    commandTimeoutMs: timeout,
    socketTimeoutMs: positiveMs(socket.socketTimeout),
    socketTimeoutFromWrite: true,
    runner: {
      evalsha: (sha1, keys, args) =>
        routed !== undefined
          ? routed(keys[0], ['EVALSHA', sha1, String(keys.length), ...keys, ...args])
          : commands.evalSha(sha1, { keys, arguments: args }),
      eval: (script, keys, args) =>
        routed !== undefined
          ? routed(keys[0], ['EVAL', script, String(keys.length), ...keys, ...args])
          : commands.eval(script, { keys, arguments: args }),
      // DEL through a script: node-redis 6 on a Cluster routes DEL (a multi-key command) through
      // more asynchronous steps than EVALSHA, so a decision made just after a reset reached Redis
      // first and was wiped by it. EVAL takes EVALSHA's path, so calls go out in the order made.
      del: (keys) =>
        (routed !== undefined
          ? routed(keys[0], ['EVAL', DELETE_SCRIPT, String(keys.length), ...keys])
          : commands.eval(DELETE_SCRIPT, { keys, arguments: [] })) as Promise<number>,
      assertReady() {
        if (client.isOpen === true && client.isReady === false) {
          throw notConnected('node-redis', 'it is connecting or reconnecting')
        }
      },
      // A cluster's slot table: each slot's shard, its master's `address` (`host:port`).
      nodeOf: (slot) => {
        const master = (client as { slots?: { master?: { address?: unknown } }[] }).slots?.[slot]?.master
        return typeof master?.address === 'string' ? master.address : undefined
      },
    },
  }
}
