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
    // Exact decimal arithmetic: "1.1 s" is 1100 ms, and "1.0000000001 s" is not a whole
    // millisecond (floating point would round either way).
    const [whole, fraction = ''] = match[1]!.split('.')
    const scale = 10n ** BigInt(fraction.length)
    const scaled = BigInt(whole! + fraction) * BigInt(UNIT_MS[match[2] as DurationUnit])
    if (scaled % scale !== 0n) return fail(option, value, 'a whole number of milliseconds')
    const exact = scaled / scale
    ms = exact > BigInt(MAX_DURATION_MS) ? MAX_DURATION_MS + 1 : Number(exact)
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
