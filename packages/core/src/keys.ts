import * as crypto from 'node:crypto'
import { describeValue, ERROR_CODES, FloodgateError } from './errors.js'
import type { Policy } from './policies/types.js'

/** Identifiers longer than this (UTF-16 code units) are replaced by a fixed-length digest. */
export const MAX_IDENTIFIER_LENGTH = 128

/**
 * Bounds an identifier's length without merging distinct identifiers: a long one becomes a
 * SHA-256 digest of its UTF-16 code units (so lone surrogates stay distinct). Anyone who could
 * craft a colliding short identifier already knows the long one, so it grants nothing.
 */
export function boundIdentifier(id: unknown): string {
  // Only the common case here, small enough for V8 to inline into the decision path; the rest
  // (a digest, an error) out of line.
  // An identifier starting with NUL might spell a digest: the uncommon path looks closer.
  if (typeof id === 'string' && id.length <= MAX_IDENTIFIER_LENGTH && id.charCodeAt(0) !== 0) return id
  return boundUncommonIdentifier(id)
}

/** What a digest starts with; an identifier can never be written that way (it is digested too). */
const DIGEST_PREFIX = '\0sha256:'

/**
 * A long identifier's digest, or the error for one that is not a string. A short identifier that
 * starts like a digest is digested as well, so no identifier can stand for another, long one.
 */
function boundUncommonIdentifier(id: unknown): string {
  if (typeof id !== 'string') {
    throw new FloodgateError(
      ERROR_CODES.INVALID_IDENTIFIER,
      `Invalid identifier: got ${describeValue(id)}; expected a string (a user id, an API key, an IP address).`,
      { option: 'identifier', value: id },
    )
  }
  if (id.length <= MAX_IDENTIFIER_LENGTH && !id.startsWith(DIGEST_PREFIX)) return id
  return `${DIGEST_PREFIX}${digest(id)}`
}

const KIND_LETTER = { 'fixed-window': 'f', 'sliding-window': 's', 'token-bucket': 'b' } as const

/**
 * Which counter a policy charges, within a prefix and an identifier: its name, kind and period
 * (`api:f60000`, a fixed window of one minute). A limit, capacity or refill rate may change (tiers,
 * a deploy) and keep the counts; another kind or period (a window of an hour, a bucket refilling per
 * second) is another counter, because the stored state means something else under it: read by the
 * new policy, it would be misread, and two processes of a rolling deploy would overwrite each
 * other's state on every call. Policy names hold no `:`, so the name is everything before it.
 */
export function counterName(policy: Policy): string {
  const periodMs = policy.kind === 'token-bucket' ? policy.intervalMs : policy.windowMs
  return `${policy.name}:${KIND_LETTER[policy.kind]}${periodMs}`
}

/** base64url SHA-256 of a string's UTF-16 code units. */
export function digest(value: string): string {
  const units = Buffer.from(value, 'utf16le')
  // The one-shot `crypto.hash` (Node ≥ 20.12) skips the Hash object: about a third cheaper.
  if (oneShotHash !== undefined) return oneShotHash('sha256', units, 'base64url')
  return crypto.createHash('sha256').update(units).digest('base64url')
}

const oneShotHash = (crypto as { hash?: (algorithm: string, data: Buffer, encoding: 'base64url') => string })
  .hash
