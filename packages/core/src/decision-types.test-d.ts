// Type tests (checked by tsc -b): the Decision a limiter answers, FloodgateError and its codes, and
// the header functions, as imported from the package. Each `@ts-expect-error` line is a use the
// public types must refuse; the rest must compile.
import {
  DEFAULT_HEADER_FORMATS,
  type Decision,
  type DecisionReason,
  type deltaSeconds,
  draft6Headers,
  draft7Headers,
  draft8Headers,
  ERROR_CODES,
  FloodgateError,
  type FloodgateErrorCode,
  type HeaderFormat,
  type HeaderMap,
  isFloodgateError,
  legacyHeaders,
  type PolicyDecision,
  type PolicyKind,
  type ProblemDetails,
  type problemDetails,
  rateLimitHeaders,
  type retryAfterSeconds,
  unavailableProblem,
} from '@floodgate/core'

/** True when A and B are the same type; `any` equals only `any`, optional differs from required. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Expect<T extends true> = T

// Decision: every field DESIGN.md §2 names (plus cost, nowMs, policies and the store error), each
// with its exact type; `tier` is always present (undefined without tiers), `error` only on a
// store error. Not declared readonly.
export type DecisionFields = [
  Expect<Equal<Pick<Decision, 'allowed'>, { allowed: boolean }>>,
  Expect<Equal<Pick<Decision, 'limit'>, { limit: number }>>,
  Expect<Equal<Pick<Decision, 'remaining'>, { remaining: number }>>,
  Expect<Equal<Pick<Decision, 'resetAtMs'>, { resetAtMs: number }>>,
  Expect<Equal<Pick<Decision, 'retryAfterMs'>, { retryAfterMs: number }>>,
  Expect<Equal<Pick<Decision, 'policy'>, { policy: string }>>,
  Expect<Equal<Pick<Decision, 'tier'>, { tier: string | undefined }>>,
  Expect<Equal<Pick<Decision, 'reason'>, { reason: DecisionReason }>>,
  Expect<Equal<Pick<Decision, 'cost'>, { cost: number }>>,
  Expect<Equal<Pick<Decision, 'nowMs'>, { nowMs: number }>>,
  Expect<Equal<Pick<Decision, 'policies'>, { policies: PolicyDecision[] }>>,
  Expect<Equal<Pick<Decision, 'error'>, { error?: FloodgateError }>>,
  Expect<
    Equal<
      keyof Decision,
      | 'allowed'
      | 'limit'
      | 'remaining'
      | 'resetAtMs'
      | 'retryAfterMs'
      | 'policy'
      | 'tier'
      | 'reason'
      | 'cost'
      | 'nowMs'
      | 'policies'
      | 'error'
    >
  >,
]

// The reason union is closed: a switch over it is exhaustive, and a made-up reason is refused.
export type Reasons = Expect<
  Equal<DecisionReason, 'allowed' | 'limited' | 'cost-exceeds-limit' | 'shadow-limited' | 'store-error'>
>
export function explain(decision: Decision): string {
  switch (decision.reason) {
    case 'allowed':
    case 'shadow-limited':
      return 'served'
    case 'limited':
      return `retry in ${decision.retryAfterMs} ms`
    case 'cost-exceeds-limit':
      return 'never'
    case 'store-error':
      return decision.error?.code ?? 'store'
    default: {
      const none: never = decision.reason
      return none
    }
  }
}
// @ts-expect-error not a reason
export const denied: DecisionReason = 'denied'

// Per-policy results: the policy's name, kind and quota, and its own outcome.
export type PolicyDecisionFields = Expect<
  Equal<
    { [K in keyof PolicyDecision]: PolicyDecision[K] },
    {
      name: string
      kind: PolicyKind
      limit: number
      windowMs: number
      allowed: boolean
      remaining: number
      resetAtMs: number
      retryAfterMs: number
    }
  >
>
export type Kinds = Expect<Equal<PolicyKind, 'fixed-window' | 'sliding-window' | 'token-bucket'>>

// Error codes: the closed union of ERR_FLOODGATE_* strings, ERROR_CODES as readonly literals.
export type Codes = [
  Expect<
    Equal<
      FloodgateErrorCode,
      | 'ERR_FLOODGATE_INVALID_OPTION'
      | 'ERR_FLOODGATE_UNKNOWN_OPTION'
      | 'ERR_FLOODGATE_INVALID_DURATION'
      | 'ERR_FLOODGATE_POLICY_CONFLICT'
      | 'ERR_FLOODGATE_INVALID_COST'
      | 'ERR_FLOODGATE_INVALID_IDENTIFIER'
      | 'ERR_FLOODGATE_STORE_ERROR'
      | 'ERR_FLOODGATE_STORE_TIMEOUT'
      | 'ERR_FLOODGATE_STORE_FULL'
      | 'ERR_FLOODGATE_CLOSED'
      | 'ERR_FLOODGATE_INVALID_DECISION'
      | 'ERR_FLOODGATE_CALLBACK_FAILED'
    >
  >,
  Expect<Equal<(typeof ERROR_CODES)['STORE_TIMEOUT'], 'ERR_FLOODGATE_STORE_TIMEOUT'>>,
]
// @ts-expect-error ERROR_CODES is read-only
ERROR_CODES.CLOSED = 'ERR_FLOODGATE_STORE_ERROR'

// FloodgateError: an Error with a readonly code, option and value; isFloodgateError narrows an
// unknown (optionally to one code, checked against the union); so does instanceof.
export function handle(error: unknown): FloodgateErrorCode | undefined {
  // @ts-expect-error an unknown has no code before narrowing
  error.code
  // @ts-expect-error not an ERR_FLOODGATE_* code
  isFloodgateError(error, 'ERR_NOPE')
  if (isFloodgateError(error, ERROR_CODES.STORE_TIMEOUT)) {
    const fields: [Error, string | undefined, unknown, 'FloodgateError'] = [
      error,
      error.option,
      error.value,
      error.name,
    ]
    // @ts-expect-error the code is read-only
    error.code = 'ERR_FLOODGATE_CLOSED'
    return fields.length > 0 ? error.code : undefined
  }
  if (error instanceof FloodgateError) return error.code
  return undefined
}
export type Narrowing = [
  Expect<Equal<FloodgateError['code'], FloodgateErrorCode>>,
  Expect<Equal<Parameters<typeof isFloodgateError>, [error: unknown, code?: FloodgateErrorCode]>>,
]
export const made = new FloodgateError('ERR_FLOODGATE_INVALID_OPTION', 'Invalid `x`.', {
  option: 'x',
  value: 1,
  cause: new Error('why'),
})
// @ts-expect-error a FloodgateError's code is one of the union
new FloodgateError('ERR_SOMETHING', 'message')

// Header functions: a Decision in, a map of header strings out; formats are the four named ones.
export function headersOf(decision: Decision): HeaderMap[] {
  const formats: HeaderFormat[] = ['draft-8', 'draft-7', 'draft-6', 'legacy']
  const defaults: readonly HeaderFormat[] = DEFAULT_HEADER_FORMATS
  // @ts-expect-error not a header format
  rateLimitHeaders(decision, 'draft-9')
  // @ts-expect-error the formats are strings, not a boolean (the middleware's `headers: false` is not this)
  rateLimitHeaders(decision, false)
  return [
    rateLimitHeaders(decision),
    rateLimitHeaders(decision, 'draft-7'),
    rateLimitHeaders(decision, formats.slice(0, 1)),
    rateLimitHeaders(decision, defaults),
    draft8Headers(decision),
    draft7Headers(decision),
    draft6Headers(decision),
    legacyHeaders(decision),
  ]
}
export type HeaderTypes = [
  Expect<Equal<HeaderMap, Record<string, string>>>,
  Expect<Equal<HeaderFormat, 'draft-8' | 'draft-7' | 'draft-6' | 'legacy'>>,
  Expect<Equal<ReturnType<typeof retryAfterSeconds>, number | undefined>>,
  Expect<Equal<ReturnType<typeof deltaSeconds>, number>>,
  Expect<Equal<ReturnType<typeof problemDetails>, ProblemDetails>>,
  Expect<
    Equal<
      { [K in keyof ProblemDetails]: ProblemDetails[K] },
      { type: string; title: string; status: number; detail: string; 'violated-policies': string[] }
    >
  >,
]
// @ts-expect-error a 503 body names no violated policies
unavailableProblem()['violated-policies']
