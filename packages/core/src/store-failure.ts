import type { Decision } from './decision.js'
import { ERROR_CODES, FloodgateError, isFloodgateError } from './errors.js'
import type { ResolvedLimiterOptions } from './limiter-options.js'
import { WARNING_CODES, type Warnings } from './warnings.js'

/** Who failed and for which request, as a store-error decision reports it. */
export interface FailedRequest {
  /** Names the store in messages: `"redis store"`, `"Upstash Ratelimit"`. */
  storeName: string
  /** The binding policy's name to report (the first policy of the request). */
  policy: string
  tier: string | undefined
  cost: number
}

/**
 * The decision for a store that failed or timed out: allowed per `onStoreError`, no quota numbers
 * (so no rate-limit headers), the error attached, the failure logged at most once a minute per
 * code and reported to `onStoreFailure`. Shared by every limiter, so they all fail the same way.
 */
export function storeFailureDecision(
  cause: unknown,
  request: FailedRequest,
  config: Pick<ResolvedLimiterOptions, 'onStoreError' | 'onStoreFailure' | 'shadow'>,
  warnings: Warnings,
): Decision {
  const error = asStoreError(cause, request.storeName)
  // Shadow mode never denies, a failing store included: 'deny' applies once the limiter enforces.
  const allowed = config.onStoreError === 'allow' || config.shadow
  const why =
    config.onStoreError === 'deny' && config.shadow
      ? "mode: 'shadow', which never denies; onStoreError: 'deny' applies in mode 'enforce'"
      : `onStoreError: '${config.onStoreError}'`
  warnings.warn(
    WARNING_CODES.STORE_FAILURE,
    `${error.message} Requests are ${allowed ? 'allowed' : 'denied'} (${why}) until the store recovers.`,
    60_000,
    error.code,
  )
  report(error, config)
  const nowMs = Date.now()
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
  if (!(cause instanceof Error)) return String(cause)
  // node-redis's TimeoutError has no message: its name says it.
  const own = withoutFullStop(cause.message || cause.name)
  let inner: Error = cause
  for (let depth = 0; depth < 8 && inner.cause instanceof Error; depth++) inner = inner.cause
  if (inner === cause) return own
  const code = (inner as { code?: unknown }).code
  const detail = withoutFullStop(inner.message)
  const named =
    typeof code === 'string' && !detail.includes(code) ? (detail ? `${code}: ${detail}` : code) : detail
  return named && !own.includes(named) ? `${own} (${named})` : own
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
