import { describeValue, ERROR_CODES, FloodgateError, invalidOption } from './errors.js'

// The `clock` option every store takes (for tests), and how each reading of it is taken.

/** Checks a store's `clock` option: a function returning epoch milliseconds, or nothing. */
export function checkClock(clock: unknown, option: string): (() => number) | undefined {
  if (clock !== undefined && typeof clock !== 'function') {
    invalidOption(option, clock, 'a function returning epoch milliseconds')
  }
  return clock as (() => number) | undefined
}

/**
 * A reading of a given clock in whole ms: a fractional one (`performance.timeOrigin +
 * performance.now()`) floored, and one that is no epoch ms (NaN, a Date, negative, past 2^53) a
 * store error, rather than a decision at NaN or past every window.
 */
export function epochMs(reading: unknown, store: string): number {
  const ms = typeof reading === 'number' ? Math.floor(reading) : Number.NaN
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new FloodgateError(
      ERROR_CODES.STORE_ERROR,
      `The ${store} store's clock returned ${describeValue(reading)}; expected epoch milliseconds.`,
    )
  }
  return ms
}
