import { describeValue, ERROR_CODES, FloodgateError } from './errors.js'

/** A duration: whole milliseconds, or a string such as `"10 s"`, `"10s"`, `"1.5 m"` (units ms, s, m, h, d). */
export type Duration = number | `${number} ${DurationUnit}` | `${number}${DurationUnit}`
/** Units of a duration string: milliseconds, seconds, minutes, hours, days (24 h). */
export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd'

const UNIT_MS: Record<DurationUnit, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** The longest duration Floodgate accepts: 366 days. Longer windows are almost always a unit mistake. */
export const MAX_DURATION_MS = 366 * 86_400_000

const PATTERN = /^(\d+(?:\.\d+)?) ?(ms|s|m|h|d)$/

/**
 * Parses a duration into whole milliseconds. Throws ERR_FLOODGATE_INVALID_DURATION for anything
 * that is not a positive whole number of milliseconds no longer than {@link MAX_DURATION_MS}.
 */
export function parseDuration(value: unknown, option = 'duration'): number {
  let ms: number
  if (typeof value === 'number') {
    ms = value
  } else if (typeof value === 'string') {
    const match = PATTERN.exec(value)
    if (!match)
      return fail(option, value, 'a number of milliseconds or a string like "10 s" (units ms, s, m, h, d)')
    ms = Number(match[1]) * UNIT_MS[match[2] as DurationUnit]
    // "1.0005 s" is not a whole millisecond; round only away float noise such as 1.1 * 1000.
    const rounded = Math.round(ms)
    if (Math.abs(ms - rounded) > 1e-6) return fail(option, value, 'a whole number of milliseconds')
    ms = rounded
  } else {
    return fail(option, value, 'a number of milliseconds or a string like "10 s"')
  }
  if (!Number.isSafeInteger(ms) || ms <= 0)
    return fail(option, value, 'a positive whole number of milliseconds')
  if (ms > MAX_DURATION_MS) return fail(option, value, 'at most 366 days')
  return ms
}

function fail(option: string, value: unknown, expected: string): never {
  throw new FloodgateError(
    ERROR_CODES.INVALID_DURATION,
    `Invalid \`${option}\`: got ${describeValue(value)}; expected ${expected}.`,
    { option, value },
  )
}
