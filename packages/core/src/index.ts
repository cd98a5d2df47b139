export type { Decision, DecisionReason, PolicyDecision } from './decision.js'
export type { DenyCacheOptions } from './deny-cache.js'
export { type Duration, type DurationUnit, MAX_DURATION_MS, parseDuration } from './duration.js'
export {
  callbackFailure,
  ERROR_CODES,
  FloodgateError,
  type FloodgateErrorCode,
  isFloodgateError,
} from './errors.js'
export {
  DEFAULT_HEADER_FORMATS,
  deltaSeconds,
  draft6Headers,
  draft7Headers,
  draft8Headers,
  HEADER_FORMATS,
  type HeaderFormat,
  type HeaderMap,
  legacyHeaders,
  type ProblemDetails,
  problemDetails,
  QUOTA_EXCEEDED_TYPE,
  rateLimitHeaders,
  resolveHeaderFormats,
  retryAfterSeconds,
  unavailableProblem,
} from './headers.js'
export { canonicalIp, clientIpKey, DEFAULT_IPV6_SUBNET } from './ip/canonical-ip.js'
export { boundIdentifier, counterName, MAX_IDENTIFIER_LENGTH } from './keys.js'
export {
  createRateLimiter,
  createRateLimiterFromResolved,
  type LimitOptions,
  type RateLimiter,
} from './limiter.js'
export {
  DEFAULT_PREFIX,
  DEFAULT_TIMEOUT_MS,
  isValidPrefix,
  LIMITER_OPTIONS,
  limiterSettingsOf,
  MAX_PREFIX_LENGTH,
  type RateLimiterOptions,
  type ResolvedLimiterOptions,
  resolveLimiterOptions,
} from './limiter-options.js'
export { RATE_LIMIT_HEADER_NAMES } from './middleware/header-writer.js'
export {
  checkMiddlewareOptions,
  MIDDLEWARE_OPTIONS,
  type MiddlewareOptions,
  type ResolvedMiddlewareOptions,
  resolveMiddlewareOptions,
} from './middleware/middleware-options.js'
export {
  type AnswerOutcome,
  bindsBefore,
  createRateLimitHandler,
  cutOffIfBegun,
  type DecidedOutcome,
  EVERY_HOP,
  EVERY_HOP_PROBE,
  type KeepOutcome,
  leavesHeaders,
  MIDDLEWARE_WARNINGS,
  type PassOutcome,
  PROBLEM_CACHE_CONTROL,
  PROBLEM_CONTENT_TYPE,
  PROBLEM_HEADERS,
  type RateLimitHandler,
  type RateLimitOutcome,
  type RequestBinding,
  type SkipOutcome,
  UNKNOWN_CLIENT_KEY,
} from './middleware/request-handler.js'
export { type Evaluation, evaluatePolicies, transition } from './policies/evaluate.js'
export { type FixedWindowOptions, fixedWindow, fixedWindowTransition } from './policies/fixed-window.js'
export {
  type SlidingWindowOptions,
  slidingWindow,
  slidingWindowTransition,
} from './policies/sliding-window.js'
export {
  refilledScaledTokens,
  type TokenBucketOptions,
  tokenBucket,
  tokenBucketTransition,
} from './policies/token-bucket.js'
export type {
  FixedWindowPolicy,
  FixedWindowState,
  Policy,
  PolicyKind,
  PolicyOutcome,
  PolicyState,
  SlidingWindowPolicy,
  SlidingWindowState,
  TokenBucketPolicy,
  TokenBucketState,
  Transition,
} from './policies/types.js'
export type { RateLimitStore, StoreRequest, StoreResetRequest, StoreResponse } from './store.js'
export { type MemoryStore, type MemoryStoreOptions, memoryStore } from './stores/memory-store.js'
export { type Logger, type PublicMembers, WARNING_CODES, type WarningCode, Warnings } from './warnings.js'
