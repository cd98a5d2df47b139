import type { Decision, PolicyDecision } from './decision.js'
import { invalidOption } from './errors.js'

// One pure function per IETF draft of "RateLimit header fields for HTTP"
// (draft-ietf-httpapi-ratelimit-headers), so that a new draft is one more function.
// Every value is an integer; delta seconds are rounded up so a client never retries early.

/** The header formats Floodgate can write. */
export type HeaderFormat = 'draft-8' | 'draft-7' | 'draft-6' | 'legacy'

/**
 * Header name → value. `rateLimitHeaders()` and the per-format functions write names in the case
 * the drafts write them (`RateLimit-Policy`); a middleware outcome's `headers` are lowercase
 * (`ratelimit-policy`), as they go on the wire.
 */
export type HeaderMap = Record<string, string>

/** Every header format Floodgate can write, newest draft first. */
export const HEADER_FORMATS: readonly HeaderFormat[] = ['draft-8', 'draft-7', 'draft-6', 'legacy']
/** The formats written when the `headers` option is not given: `['draft-8', 'legacy']`. */
export const DEFAULT_HEADER_FORMATS: readonly HeaderFormat[] = ['draft-8', 'legacy']

/** Validates the `headers` option: a format, a list of formats, or false for none. */
export function resolveHeaderFormats(value: unknown): readonly HeaderFormat[] {
  if (value === undefined) return DEFAULT_HEADER_FORMATS
  if (value === false) return []
  const list = Array.isArray(value) ? value : [value]
  for (const format of list) {
    if (!HEADER_FORMATS.includes(format as HeaderFormat)) {
      invalidOption(
        'headers',
        format,
        `false, or one or more of ${HEADER_FORMATS.map((f) => `"${f}"`).join(', ')}`,
      )
    }
  }
  const formats = [...new Set(list as HeaderFormat[])]
  checkOneDraft(formats, 'headers')
  return Object.freeze(formats)
}

/** The drafts write RateLimit and RateLimit-Policy in different syntaxes: one would overwrite another. */
function checkOneDraft(formats: readonly HeaderFormat[], option: string): void {
  const drafts = [...new Set(formats.filter((format) => format !== 'legacy'))]
  if (drafts.length > 1) {
    invalidOption(
      option,
      drafts.join(' + '),
      'at most one of "draft-8", "draft-7", "draft-6" (they share field names), plus "legacy" if wanted',
    )
  }
}

/** Whole seconds from `nowMs` to `atMs`, rounded up, never negative. */
export function deltaSeconds(atMs: number, nowMs: number): number {
  return Math.max(0, Math.ceil((atMs - nowMs) / 1000))
}

function windowSeconds(policy: PolicyDecision): number {
  return Math.max(1, Math.ceil(policy.windowMs / 1000))
}

/** draft-8 and later: one List member per policy in both fields. */
export function draft8Headers(decision: Decision): HeaderMap {
  const policy = decision.policies.map((p) => `"${p.name}";q=${p.limit};w=${windowSeconds(p)}`)
  const state = decision.policies.map(
    (p) => `"${p.name}";r=${p.remaining};t=${deltaSeconds(p.resetAtMs, decision.nowMs)}`,
  )
  return { 'RateLimit-Policy': policy.join(', '), RateLimit: state.join(', ') }
}

function binding(decision: Decision): PolicyDecision {
  return decision.policies.find((p) => p.name === decision.policy) ?? decision.policies[0]!
}

/** draft-7: the binding policy as a Dictionary. */
export function draft7Headers(decision: Decision): HeaderMap {
  const p = binding(decision)
  return {
    'RateLimit-Policy': `${p.limit};w=${windowSeconds(p)}`,
    RateLimit: `limit=${p.limit}, remaining=${p.remaining}, reset=${deltaSeconds(p.resetAtMs, decision.nowMs)}`,
  }
}

/** draft-6: three fields for the binding policy plus its policy. */
export function draft6Headers(decision: Decision): HeaderMap {
  const p = binding(decision)
  return {
    'RateLimit-Policy': `${p.limit};w=${windowSeconds(p)}`,
    'RateLimit-Limit': String(p.limit),
    'RateLimit-Remaining': String(p.remaining),
    'RateLimit-Reset': String(deltaSeconds(p.resetAtMs, decision.nowMs)),
  }
}

/** The X-RateLimit-* fields as express-rate-limit and koa send them: reset in epoch seconds. */
export function legacyHeaders(decision: Decision): HeaderMap {
  const p = binding(decision)
  return {
    'X-RateLimit-Limit': String(p.limit),
    'X-RateLimit-Remaining': String(p.remaining),
    'X-RateLimit-Reset': String(Math.ceil(p.resetAtMs / 1000)),
  }
}

const WRITERS: Record<HeaderFormat, (decision: Decision) => HeaderMap> = {
  'draft-8': draft8Headers,
  'draft-7': draft7Headers,
  'draft-6': draft6Headers,
  legacy: legacyHeaders,
}

/**
 * The rate-limit headers for a decision in the given formats (one, or a list; the default
 * `['draft-8', 'legacy']`), plus `Retry-After` on a denial that can succeed later. A store-error
 * decision gets none: its numbers describe no real quota.
 */
export function rateLimitHeaders(
  decision: Decision,
  formats: HeaderFormat | readonly HeaderFormat[] = DEFAULT_HEADER_FORMATS,
): HeaderMap {
  const list = typeof formats === 'string' ? [formats] : formats
  // Checked before anything else: a bad list fails on every decision, not on some.
  for (const format of list) {
    if (!Object.hasOwn(WRITERS, format)) {
      invalidOption('formats', format, `one of ${HEADER_FORMATS.join(', ')}, or a list of them`)
    }
  }
  checkOneDraft(list, 'formats')
  if (decision.reason === 'store-error' || decision.policies.length === 0) return {}
  const headers: HeaderMap = {}
  for (const format of list) Object.assign(headers, WRITERS[format](decision))
  const retryAfter = retryAfterSeconds(decision)
  if (retryAfter !== undefined) headers['Retry-After'] = String(retryAfter)
  return headers
}

/** Retry-After in whole seconds (at least 1) for a denial that can succeed later; else undefined. */
export function retryAfterSeconds(decision: Decision): number | undefined {
  if (decision.allowed || !Number.isFinite(decision.retryAfterMs)) return undefined
  return Math.max(1, Math.ceil(decision.retryAfterMs / 1000))
}

/** The `type` of a quota denial (draft-9 of the RateLimit headers, IANA problem types). */
export const QUOTA_EXCEEDED_TYPE = 'https://iana.org/assignments/http-problem-types#quota-exceeded'

/** An RFC 9457 problem body for a denial, sent as `application/problem+json`. */
export interface ProblemDetails {
  /** A URI naming the problem: {@link QUOTA_EXCEEDED_TYPE} for a denial. */
  type: string
  /** A short, fixed summary: `"Too Many Requests"`. */
  title: string
  /** The HTTP status code: 429. */
  status: number
  /** A sentence for people: the binding policy and when to retry. */
  detail: string
  /** Names of the policies that denied the request. */
  'violated-policies': string[]
}

/** @internal The `detail` of a 429: why it can never pass, or when to retry if a time is known. */
export function problemDetail(decision: Decision): string {
  if (decision.reason === 'cost-exceeds-limit') {
    return `This request costs ${decision.cost}, more than policy "${decision.policy}" allows at all (${decision.limit}); it cannot succeed.`
  }
  const retryAfter = retryAfterSeconds(decision)
  return retryAfter === undefined
    ? `Rate limit exceeded for policy "${decision.policy}"; it gives no time at which a retry would pass.`
    : `Rate limit exceeded for policy "${decision.policy}"; retry in ${retryAfter} s.`
}

/** The problem+json body of a 429, the same on every framework. */
export function problemDetails(decision: Decision): ProblemDetails {
  const violated = decision.policies.filter((p) => !p.allowed).map((p) => p.name)
  return {
    type: QUOTA_EXCEEDED_TYPE,
    title: 'Too Many Requests',
    status: 429,
    detail: problemDetail(decision),
    'violated-policies': violated,
  }
}

/** The body of a 503 answered when the store failed under `onStoreError: 'deny'`. */
export function unavailableProblem(): Omit<ProblemDetails, 'violated-policies'> {
  return {
    type: 'about:blank',
    title: 'Service Unavailable',
    status: 503,
    detail: 'The rate limiter could not reach its store; try again shortly.',
  }
}
