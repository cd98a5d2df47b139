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
   * within `repeatMs` (default: never again).
   */
  readonly warn: (code: string, message: string, repeatMs?: number, key?: string) => void

  constructor(logger: Logger, clock: () => number = Date.now, silenced: ReadonlySet<string> = new Set()) {
    // State in this closure, not in private fields, which would make the class nominal (see
    // PublicMembers): `RateLimiter.warnings` is typed by this class in both declaration files.
    const seen = new Map<string, number>()
    const keysOf = new Map<string, number>()
    this.warn = (code, message, repeatMs = Number.POSITIVE_INFINITY, key = code) => {
      if (logger === false || silenced.has(code)) return
      const now = clock()
      const last = seen.get(key)
      if (last !== undefined && now - last < repeatMs) return
      if (last === undefined && key !== code) {
        const keys = keysOf.get(code) ?? 0
        if (keys >= KEYS_PER_CODE) return
        keysOf.set(code, keys + 1)
      }
      seen.set(key, now)
      logger.warn(`[floodgate] ${code}: ${message}`)
    }
  }
}
