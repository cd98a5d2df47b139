import { invalidOption } from './errors.js'
import { registry } from './process-registry.js'

/** Where Floodgate writes warnings. `false` silences them. */
export type Logger =
  | {
      /** Receives one warning line, prefixed with `[floodgate]` and its code. */
      warn(message: string): void
    }
  | false

/**
 * The code of every runtime warning, the first word of its log line. Each has an entry in
 * docs/errors.md; list codes in the limiter's `silenceWarnings` to turn them off one by one.
 */
export const WARNING_CODES = {
  /** A request had no usable client address; it was counted under the shared `unknown-client` key. */
  UNKNOWN_CLIENT_IP: 'WARN_FLOODGATE_UNKNOWN_CLIENT_IP',
  /** An X-Forwarded-For or Forwarded header arrived, but the framework does not trust proxies. */
  FORWARDED_HEADER_IGNORED: 'WARN_FLOODGATE_FORWARDED_HEADER_IGNORED',
  /** The framework trusts every forwarding hop, so a client can choose its own address. */
  PERMISSIVE_TRUST_PROXY: 'WARN_FLOODGATE_PERMISSIVE_TRUST_PROXY',
  /** A Redis or Upstash client is set up in a way that can pile up or double-count requests. */
  CLIENT_SETTINGS: 'WARN_FLOODGATE_CLIENT_SETTINGS',
  /** A request named a tier the limiter does not have; the default tier applied. */
  UNKNOWN_TIER: 'WARN_FLOODGATE_UNKNOWN_TIER',
  /**
   * Two open limiters count the same counters: one store, one prefix, one policy name (two
   * middlewares given one store, with policies of the default names, say).
   */
  SHARED_COUNTERS: 'WARN_FLOODGATE_SHARED_COUNTERS',
  /** The store failed or timed out; requests follow `onStoreError` (logged at most once a minute). */
  STORE_FAILURE: 'WARN_FLOODGATE_STORE_FAILURE',
  /** The store answers again after failing: for how long it failed, and what requests got meanwhile. */
  STORE_RECOVERED: 'WARN_FLOODGATE_STORE_RECOVERED',
  /** A middleware's `skip` returned something other than a boolean; only `true` skips. */
  SKIP_NOT_BOOLEAN: 'WARN_FLOODGATE_SKIP_NOT_BOOLEAN',
  /** A middleware was created while the framework handled a request: made per request, it limits nothing. */
  CREATED_IN_REQUEST: 'WARN_FLOODGATE_CREATED_IN_REQUEST',
} as const

/** One of the `WARN_FLOODGATE_*` codes of {@link WARNING_CODES}. */
export type WarningCode = (typeof WARNING_CODES)[keyof typeof WARNING_CODES]

/**
 * Distinct keys remembered per code beyond the code itself. Keys can come from requests (an unknown
 * tier's name), so each code has a budget of its own: a flood of one kind cannot use up another
 * code's, and every code is logged at least once.
 */
export const KEYS_PER_CODE = 100

/**
 * A class's public members as a plain object type. A class with private members is nominal, and
 * the package ships the class in two declaration files (ESM `.d.ts`, CommonJS `.d.cts`), which are
 * then two unrelated types: a project that loads both (an `.mts` and a `.cts` file) could not hand
 * a limiter typed by one to an option typed by the other. Public types refer to such a class
 * (the deny cache) through this instead.
 */
export type PublicMembers<T> = { [K in keyof T]: T[K] }

/**
 * Runtime warnings shown once per code (store failures once per `repeatMs`), so a misconfiguration
 * is visible without flooding the log. `logger: false` silences them all.
 */
export class Warnings {
  /**
   * Writes `message` unless `code` is silenced or this `key` (default: the code) was written
   * within `repeatMs` (default: never again). A function is called only when the line is written:
   * for a message that costs something to build on a path a client can hit at will. True when the
   * line was written.
   */
  readonly warn: (code: string, message: string | (() => string), repeatMs?: number, key?: string) => boolean
  /** Lets the next warning under `key` be written at once (a store failure after a recovery). */
  readonly forget: (key: string) => void

  constructor(logger: Logger, clock: () => number = Date.now, silenced: ReadonlySet<string> = new Set()) {
    // State in this closure, not in private fields, which would make the class nominal (see
    // PublicMembers): `RateLimiter.warnings` is typed by this class in both declaration files.
    const seen = new Map<string, number>()
    const keysOf = new Map<string, number>()
    this.warn = (code, message, repeatMs = Number.POSITIVE_INFINITY, key = code) => {
      if (logger === false || silenced.has(code)) return false
      const now = clock()
      const last = seen.get(key)
      if (last !== undefined && now - last < repeatMs) return false
      if (last === undefined && key !== code) {
        const keys = keysOf.get(code) ?? 0
        if (keys >= KEYS_PER_CODE) return false
        keysOf.set(code, keys + 1)
      }
      seen.set(key, now)
      try {
        logger.warn(`[floodgate] ${code}: ${typeof message === 'function' ? message() : message}`)
      } catch {
        // A logger that fails (a closed transport) must not turn a decision into an exception.
      }
      return true
    }
    this.forget = (key) => {
      // Kept, as long ago: deleted, the key would take another of its code's KEYS_PER_CODE.
      if (seen.has(key)) seen.set(key, Number.NEGATIVE_INFINITY)
    }
  }
}

/** Checks a `logger` option: an object with a `warn(message)` method, `false`, or unset (undefined). */
export function checkLogger(value: unknown, option: string): Logger | undefined {
  if (value === undefined) return undefined
  if (
    value !== false &&
    (typeof value !== 'object' || value === null || typeof (value as { warn?: unknown }).warn !== 'function')
  ) {
    invalidOption(option, value, 'an object with a warn(message) method, or false to log nothing')
  }
  return value as Logger
}

/**
 * A store's warning about the client it was given (risky settings), kept on the store when it was
 * created without a `logger` of its own: the first limiter given the store writes it through the
 * limiter's `logger`, under its `silenceWarnings`; a store used before any limiter wrote it (on its
 * own, wrapped in another store, under a limiter of an older copy) writes it to `console` at its
 * first call. Under a registered symbol, so that a limiter of another copy finds it too.
 */
const STORE_NOTICE = Symbol.for('floodgate.storeNotice.v1')

/** What {@link STORE_NOTICE} holds. */
interface StoreNotice {
  readonly code: WarningCode
  readonly message: string
  /** The client it is about: warned of once in the process, whichever store writes it. */
  readonly client: object
  /** Set once written, or passed on to a limiter that silences it. */
  delivered: boolean
}

/**
 * Warns of a store's client now, through the store's own `logger`, or leaves the warning on the
 * store (see {@link STORE_NOTICE}). Returns what the store runs at its first call: the `console`
 * fallback.
 */
export function warnOfClient(
  store: object,
  client: object,
  logger: Logger | undefined,
  code: WarningCode,
  message: string,
): () => void {
  const notice: StoreNotice = { code, message, client, delivered: false }
  if (logger !== undefined) deliverNotice(notice, new Warnings(logger))
  else Object.defineProperty(store, STORE_NOTICE, { value: notice })
  return () => deliverNotice(notice, new Warnings(console))
}

/** Writes the client warning left on `store`, if any and not yet written, through `warnings`. */
export function deliverStoreNotice(store: object, warnings: PublicMembers<Warnings>): void {
  const notice = (store as { [STORE_NOTICE]?: StoreNotice })[STORE_NOTICE]
  if (notice !== undefined) deliverNotice(notice, warnings)
}

function deliverNotice(notice: StoreNotice, warnings: PublicMembers<Warnings>): void {
  if (notice.delivered) return
  notice.delivered = true
  if (registry.warnedClients.has(notice.client)) return
  registry.warnedClients.add(notice.client)
  warnings.warn(notice.code, notice.message)
}
