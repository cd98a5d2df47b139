import { describeValue, ERROR_CODES, FloodgateError, invalidOption } from '../errors.js'

const NAME = /^[A-Za-z0-9_.-]{1,64}$/

/** Whether `value` is a policy name: it goes into keys and, quoted as it is, into header fields. */
export function isPolicyName(value: unknown): value is string {
  return typeof value === 'string' && NAME.test(value)
}

/** Policy names end up in storage keys and headers: a short token without separators or quotes. */
export function validatePolicyName(value: unknown, option: string): string {
  if (!isPolicyName(value)) {
    return invalidOption(option, value, 'a name of 1 to 64 characters from A-Z a-z 0-9 _ . -')
  }
  return value
}

/**
 * The largest quota (a limit or a capacity): the largest integer an HTTP structured field carries
 * (RFC 9651: 15 digits), so `q` and `r` in the RateLimit headers stay valid. Far beyond any real limit.
 */
export const MAX_QUOTA = 999_999_999_999_999

/** A limit or capacity: a whole number from 1 to {@link MAX_QUOTA}. */
export function validateQuota(value: unknown, option: string): number {
  // Checked first: past 2^53 a number is no safe integer either, but its size is what to fix.
  if (typeof value === 'number' && Number.isInteger(value) && value > MAX_QUOTA) {
    invalidOption(
      option,
      value,
      'at most 999,999,999,999,999 (15 digits, the most a RateLimit header field can carry)',
    )
  }
  return validatePositiveInteger(value, option)
}

/** A positive safe integer (limits, capacities, refill rates, costs). */
export function validatePositiveInteger(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    // 1e16 is a whole number of at least 1: past 2^53 the reason is its size.
    const reason =
      Number.isInteger(value) && (value as number) > 0
        ? 'a whole number from 1 to 9,007,199,254,740,991 (Number.MAX_SAFE_INTEGER)'
        : 'a whole number of at least 1'
    return invalidOption(option, value, reason)
  }
  return value
}

/**
 * Reports option names a caller passed that `known` does not list, suggesting the closest; or, for
 * a name in `hints` (another rate limiter's option, say), the fix that hint gives, as written.
 */
export function rejectUnknownOptions(
  options: object,
  known: readonly string[],
  where: string,
  hints: Readonly<Record<string, string>> = {},
): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue
    const hint = Object.hasOwn(hints, name) ? ` ${hints[name]}` : undefined
    const guess = hint === undefined ? closest(name, known) : undefined
    throw new FloodgateError(
      ERROR_CODES.UNKNOWN_OPTION,
      `Unknown option ${describeValue(name)} in ${where}.${hint ?? (guess ? ` Did you mean \`${guess}\`?` : '')} Known options: ${known.join(', ')}.`,
      { option: name, value: name },
    )
  }
}

/** Checks that an options argument is a plain object before reading it. */
export function requireObject(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return invalidOption(where, value, 'an options object')
  }
  return value as Record<string, unknown>
}

function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1
  for (const candidate of known) {
    // `policy` for `policies` is a likely slip, yet 3 edits away: singular and plural match outright.
    const d =
      singular(name) === singular(candidate) ? 1 : distance(name.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

function singular(word: string): string {
  const w = word.toLowerCase()
  return w.endsWith('ies') ? `${w.slice(0, -3)}y` : w.endsWith('s') ? w.slice(0, -1) : w
}

/** Levenshtein distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution)
    }
    previous = current
  }
  return previous[b.length] ?? 0
}
