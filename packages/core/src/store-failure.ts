import type { Decision } from './decision.js'
import { describeValue, ERROR_CODES, FloodgateError, isFloodgateError } from './errors.js'
import type { ResolvedLimiterOptions } from './limiter-options.js'
import { WARNING_CODES, type Warnings } from './warnings.js'

/** Who failed and for which request, as a store-error decision reports it. */
export interface FailedRequest {
  /** The binding policy's name to report (the first policy of the request). */
  policy: string
  tier: string | undefined
  cost: number
}

/** What a store-failure decision needs of its limiter. */
type FailureConfig = Pick<ResolvedLimiterOptions, 'onStoreError' | 'onStoreFailure' | 'shadow'>

/** Recovery lines are written at most this often, so a store that fails every other call logs little. */
const RECOVERY_LINE_MS = 60_000

/**
 * One limiter's store outages as its log tells them: a failure line at most once a minute per
 * error code, naming the limiter; then, when the store answers a decision again, one line saying
 * since when it failed and what the requests got meanwhile (at most once a minute: a line held back
 * is written at the first answer after the minute), after which the next failure is logged at once.
 * `answered` is all a healthy store pays: one comparison.
 */
export class StoreOutage {
  /** Failures not told yet by a recovery line. */
  private unreported = false
  /** `Date.now()` at the first of them. */
  private since = 0
  private allowed = 0
  private denied = 0
  private lastRecoveryLine = Number.NEGATIVE_INFINITY
  /** The failure lines' keys (error codes) written since the last recovery line, forgotten at the next. */
  private readonly keys = new Set<string>()

  constructor(
    private readonly warnings: Warnings,
    private readonly config: FailureConfig,
    /** Names the store in messages: `"redis store"`, `"Upstash Ratelimit"`. */
    private readonly storeName: string,
    /** Names the limiter in log lines: `the limiter with prefix "api"`. */
    private readonly limiterName: string,
    /** Whether `answered` is called when the store answers (not on the memory store's own path). */
    private readonly tellsRecovery: boolean,
  ) {}

  /**
   * The decision for a store that failed or timed out: allowed per `onStoreError`, no quota numbers
   * (so no rate-limit headers), the error attached, logged and reported to `onStoreFailure`.
   */
  failed(cause: unknown, request: FailedRequest): Decision {
    const { config } = this
    const error = asStoreError(cause, this.storeName)
    // Shadow mode never denies, a failing store included: 'deny' applies once the limiter enforces.
    const allowed = config.onStoreError === 'allow' || config.shadow
    const nowMs = Date.now()
    if (!this.unreported) {
      this.unreported = true
      this.since = nowMs
    }
    if (allowed) this.allowed++
    else this.denied++
    const why =
      config.onStoreError === 'deny' && config.shadow
        ? "mode: 'shadow', which never denies; onStoreError: 'deny' applies in mode 'enforce'"
        : `onStoreError: '${config.onStoreError}'`
    this.keys.add(error.code)
    this.warnings.warn(
      WARNING_CODES.STORE_FAILURE,
      `${error.message} Requests of ${this.limiterName} (policy "${request.policy}") are ${allowed ? 'allowed' : 'denied'} (${why}) until the store answers again${this.tellsRecovery ? ', which will be logged' : ''}.`,
      60_000,
      error.code,
    )
    report(error, config)
    return {
      allowed,
      limit: 0,
      remaining: 0,
      resetAtMs: nowMs,
      retryAfterMs: 0,
      policy: request.policy,
      tier: request.tier,
      reason: 'store-error',
      cost: request.cost,
      nowMs,
      policies: [],
      error,
    }
  }

  /**
   * Work the store does after it answered (Ratelimit's `pending`: a cached window's count, the IP
   * deny list's refresh, a region's sync) failed: logged (at most once a minute) and reported as a
   * failure is. `opensOutage` when that work was the store's own (a count's increment): the next
   * answer then tells the recovery, and the line held back meanwhile.
   */
  failedLater(cause: unknown, policy: string, opensOutage: boolean): void {
    const error = asStoreError(cause, this.storeName)
    // Work the store itself failed (a cached count's increment) is an outage too: its recovery line
    // forgets this key, so that a second outage is logged at once.
    if (opensOutage && !this.unreported) {
      this.unreported = true
      this.since = Date.now()
    }
    const key = `later:${error.code}`
    this.keys.add(key)
    this.warnings.warn(
      WARNING_CODES.STORE_FAILURE,
      `${error.message} Work done after ${this.limiterName} (policy "${policy}") had answered failed (analytics, a cached window's count, the IP deny list's refresh or a region's sync); the decision itself was given.`,
      60_000,
      key,
    )
    report(error, this.config)
  }

  /** The store answered a decision: tells the failures before it, if any. */
  answered(): void {
    if (this.unreported) this.recovered()
  }

  private recovered(): void {
    const nowMs = Date.now()
    // Within the minute of the last such line (a store failing every other call), the line waits
    // for the first answer after it, its count going on meanwhile.
    if (nowMs - this.lastRecoveryLine < RECOVERY_LINE_MS) return
    const total = this.allowed + this.denied
    const got = [
      this.allowed > 0 ? `${this.allowed} allowed uncounted` : '',
      this.denied > 0 ? `${this.denied} denied` : '',
    ].filter(Boolean)
    const since = `Since its failures began ${((nowMs - this.since) / 1000).toFixed(1)} s ago`
    this.warnings.warn(
      WARNING_CODES.STORE_RECOVERED,
      total === 0
        ? `The ${this.storeName} answers ${this.limiterName} again. ${since}, every request got a decision; only work done after some of them failed.`
        : `The ${this.storeName} answers ${this.limiterName} again. ${since}, ${total} request${total === 1 ? '' : 's'} got no decision from it: ${got.join(', ')}.`,
      0,
    )
    this.lastRecoveryLine = nowMs
    for (const key of this.keys) this.warnings.forget(key)
    this.keys.clear()
    this.unreported = false
    this.allowed = 0
    this.denied = 0
  }
}

/**
 * A store failure of `reset()`: reported to `onStoreFailure` as a decision's is, and returned for
 * `reset()` to reject with (a reset has no `onStoreError` answer; its caller learns it failed).
 */
export function resetFailure(
  cause: unknown,
  storeName: string,
  config: Pick<ResolvedLimiterOptions, 'onStoreFailure'>,
): FloodgateError {
  const error = asStoreError(cause, storeName)
  report(error, config)
  return error
}

/** `cause` as the FloodgateError a store failure is reported as (a client's own error as its cause). */
function asStoreError(cause: unknown, storeName: string): FloodgateError {
  if (isFloodgateError(cause)) return cause
  return new FloodgateError(ERROR_CODES.STORE_ERROR, `The ${storeName} failed: ${describeCause(cause)}.`, {
    cause,
  })
}

/**
 * A client error's message, with its innermost cause's when that says more: fetch's `fetch failed`
 * (the Upstash client) keeps ECONNREFUSED, ENOTFOUND or a TLS error two causes down.
 */
function describeCause(cause: unknown): string {
  try {
    return cause instanceof Error ? describeError(cause) : String(cause)
  } catch {
    // No string of its own (a null-prototype object, a throwing toString or `message` getter): a
    // failure all the same.
    return describeValue(cause)
  }
}

function describeError(cause: Error): string {
  // node-redis's TimeoutError has no message: its name says it. A message that is no string (a
  // number, an object) says nothing.
  const own = withoutFullStop(withoutCommand(textOf(cause.message) || textOf(cause.name)))
  let inner: Error = cause
  for (let depth = 0; depth < 8 && inner.cause instanceof Error; depth++) inner = inner.cause
  if (inner === cause) return own
  const code = (inner as { code?: unknown }).code
  const detail = withoutFullStop(textOf(inner.message))
  const named =
    typeof code === 'string' && !detail.includes(code) ? (detail ? `${code}: ${detail}` : code) : detail
  return named && !own.includes(named) ? `${own} (${named})` : own
}

function textOf(value: unknown): string {
  return typeof value === 'string' ? value : ''
}

/**
 * @upstash/redis ends its errors with the command it sent (`Unauthorized, command was: [...]`),
 * whose keys hold the identifier: an API key or an address, not for a log line.
 */
function withoutCommand(message: string): string {
  const at = message.indexOf(', command was: ')
  return at === -1 ? message : message.slice(0, at)
}

function withoutFullStop(message: string): string {
  return message.endsWith('.') ? message.slice(0, -1) : message
}

function report(error: FloodgateError, config: Pick<ResolvedLimiterOptions, 'onStoreFailure'>): void {
  try {
    const reported: unknown = config.onStoreFailure?.(error)
    // An async hook's rejection (an alert whose webhook is down) is handled like a synchronous
    // throw: an unhandled rejection would end the process in the middle of an outage.
    if (typeof (reported as PromiseLike<unknown> | null | undefined)?.then === 'function') {
      ;(reported as PromiseLike<unknown>).then(undefined, () => undefined)
    }
  } catch {
    // A failing report hook must not turn a decision into an exception, nor replace a reset's error.
  }
}
