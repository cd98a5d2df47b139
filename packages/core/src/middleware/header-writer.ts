import type { Decision, PolicyDecision } from '../decision.js'
import {
  deltaSeconds,
  type HeaderFormat,
  type HeaderMap,
  rateLimitHeaders,
  retryAfterSeconds,
} from '../headers.js'

// The middleware's headers: rateLimitHeaders() with every name in lowercase, the common one-policy
// decision written straight into one object (the general path maps and joins per-policy arrays,
// builds an object per format and merges them, about 0.5 µs per request). Same values, same order
// (held by its test).
//
// Lowercase, as HTTP/2 sends them (HTTP names are case-insensitive), on every framework: Node
// lowercases each name it is given, to key it and again as it writes the head, and Fastify does
// too, so a name already in lowercase needs no new string: 700–1,300 instructions less per header
// and request on Node 20 (valgrind, docs/benchmarks-history.md). The names are literals, not
// `toLowerCase()` results: V8 keeps literal strings in its string table already, so using one as
// a property name costs no lookup there.

/**
 * Every header name a limiter may write, in lowercase: what an adapter removes before writing the
 * headers of a second limiter that binds on the same request, so that none of the first one's
 * (another format's, say) stays beside them.
 */
export const RATE_LIMIT_HEADER_NAMES: readonly string[] = Object.freeze([
  'ratelimit',
  'ratelimit-policy',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'retry-after',
])

/** A function giving the map of `rateLimitHeaders(decision, formats)` with lowercase names. */
export function headerWriter(formats: readonly HeaderFormat[]): (decision: Decision) => HeaderMap {
  const draft = formats.find((f) => f !== 'legacy')
  const legacyAt = formats.indexOf('legacy')
  const draftAt = draft === undefined ? -1 : formats.indexOf(draft)
  const legacyFirst = legacyAt !== -1 && (draftAt === -1 || legacyAt < draftAt)
  const policyField = new PolicyFields(draft)

  return (decision) => {
    if (decision.policies.length !== 1 || decision.reason === 'store-error') {
      return lowercaseNames(rateLimitHeaders(decision, formats))
    }
    const p = decision.policies[0]!
    const headers: HeaderMap = {}
    if (legacyFirst) writeLegacy(headers, p)
    if (draft !== undefined) {
      const reset = deltaSeconds(p.resetAtMs, decision.nowMs)
      headers['ratelimit-policy'] = policyField.of(p)
      if (draft === 'draft-8') {
        headers.ratelimit = `"${p.name}";r=${p.remaining};t=${reset}`
      } else if (draft === 'draft-7') {
        headers.ratelimit = `limit=${p.limit}, remaining=${p.remaining}, reset=${reset}`
      } else {
        headers['ratelimit-limit'] = String(p.limit)
        headers['ratelimit-remaining'] = String(p.remaining)
        headers['ratelimit-reset'] = String(reset)
      }
    }
    if (legacyAt !== -1 && !legacyFirst) writeLegacy(headers, p)
    const retryAfter = retryAfterSeconds(decision)
    if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter)
    return headers
  }
}

function writeLegacy(headers: HeaderMap, p: PolicyDecision): void {
  headers['x-ratelimit-limit'] = String(p.limit)
  headers['x-ratelimit-remaining'] = String(p.remaining)
  headers['x-ratelimit-reset'] = String(Math.ceil(p.resetAtMs / 1000))
}

/** The general path's map with lowercase names (several policies: rare enough to copy). */
function lowercaseNames(headers: HeaderMap): HeaderMap {
  const lower: HeaderMap = {}
  for (const name of Object.keys(headers)) lower[name.toLowerCase()] = headers[name]!
  return lower
}

/** The RateLimit-Policy value of a policy: constant for its name, limit and window, so built once. */
class PolicyFields {
  private readonly byName = new Map<string, { limit: number; windowMs: number; value: string }>()

  constructor(private readonly draft: HeaderFormat | undefined) {}

  of(p: PolicyDecision): string {
    const cached = this.byName.get(p.name)
    if (cached !== undefined && cached.limit === p.limit && cached.windowMs === p.windowMs)
      return cached.value
    const w = Math.max(1, Math.ceil(p.windowMs / 1000))
    const value = this.draft === 'draft-8' ? `"${p.name}";q=${p.limit};w=${w}` : `${p.limit};w=${w}`
    // Policy names come from the configuration, so the map stays as small as the policy set.
    this.byName.set(p.name, { limit: p.limit, windowMs: p.windowMs, value })
    return value
  }
}
