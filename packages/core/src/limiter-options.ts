import { type DenyCache, type DenyCacheOptions, resolveDenyCache, tiersUnsafeToCache } from './deny-cache.js'
import { type Duration, parseDuration } from './duration.js'
import { describeValue, ERROR_CODES, FloodgateError, invalidOption } from './errors.js'
import { LIMITER_PEER_HINTS } from './peer-options.js'
import { rejectUnknownOptions, requireObject } from './policies/common.js'
import { fixedWindow } from './policies/fixed-window.js'
import { slidingWindow } from './policies/sliding-window.js'
import { tokenBucket } from './policies/token-bucket.js'
import type { Policy } from './policies/types.js'
import type { RateLimitStore } from './store.js'
import { memoryFastPath } from './stores/memory-store.js'
import { checkLogger, type Logger, type PublicMembers, WARNING_CODES, type WarningCode } from './warnings.js'

/** Options of `createRateLimiter`. Give either `policies` or `tiers` + `defaultTier`. */
export interface RateLimiterOptions {
  /** One policy or several, all applied to every request (all-or-nothing). */
  policies?: Policy | readonly Policy[] | undefined
  /** Policies per plan, e.g. `{ free: [...], pro: [...] }`. A tier only chooses limits. */
  tiers?: Record<string, Policy | readonly Policy[]> | undefined
  /** The tier used when none is given, and for a tier name that is not configured. */
  defaultTier?: string | undefined
  /** Where counters live. Default: a fresh `memoryStore()`, closed with the limiter. */
  store?: RateLimitStore | undefined
  /** Namespace of this limiter's counters. Default `"floodgate"`. */
  prefix?: string | undefined
  /** Deadline of each call to a remote store. Default `"250 ms"`; at most 24 days (a Node.js timer's longest). */
  timeout?: Duration | undefined
  /** What a request gets when the store fails or times out. Default `"allow"`. */
  onStoreError?: 'allow' | 'deny' | undefined
  /** `"shadow"` counts and reports but never denies. Default `"enforce"`. */
  mode?: 'enforce' | 'shadow' | undefined
  /**
   * Called with every store failure (after `timeout`), in addition to the logged warning. May be
   * async; what it returns is not awaited, and a throw or rejection of its own is ignored.
   */
  onStoreFailure?: ((error: FloodgateError) => unknown) | undefined
  /** Where warnings go (store failures at most once a minute, misconfigurations once). Default `console`. */
  logger?: Logger | undefined
  /** Warning codes (`WARN_FLOODGATE_*`, see docs/errors.md) not to log, one by one. Default none. */
  silenceWarnings?: readonly WarningCode[] | undefined
  /**
   * Answers an identifier the store just denied locally until its retry time, without a round
   * trip. Default: on (10,000 identifiers) for a remote store, off for a local one; `false` turns it
   * off. Never used by `peek`, in shadow mode, or with the memory store (whose own lookup is as cheap).
   */
  denyCache?: boolean | DenyCacheOptions | undefined
}

/** Every option name `createRateLimiter` accepts; any other name throws ERR_FLOODGATE_UNKNOWN_OPTION. */
export const LIMITER_OPTIONS = [
  'policies',
  'tiers',
  'defaultTier',
  'store',
  'prefix',
  'timeout',
  'onStoreError',
  'mode',
  'onStoreFailure',
  'logger',
  'silenceWarnings',
  'denyCache',
] as const

/** The default deadline of a remote store call, in ms. */
export const DEFAULT_TIMEOUT_MS = 250

/** The `prefix` of a limiter that names none. */
export const DEFAULT_PREFIX = 'floodgate'
/** The longest `prefix`, in characters. */
export const MAX_PREFIX_LENGTH = 64
const PREFIX = /^[\x21-\x7a\x7c\x7e]{1,64}$/

/** Whether `value` is a valid `prefix`: 1 to 64 printable ASCII characters without spaces or braces. */
export function isValidPrefix(value: unknown): value is string {
  return typeof value === 'string' && PREFIX.test(value)
}

/** `RateLimiterOptions` after validation, with every default filled in and durations in ms. */
export interface ResolvedLimiterOptions {
  /** Policies per tier; a limiter without tiers has one tier named `""`. */
  tiers: Map<string, readonly Policy[]>
  /** The tier used when none (or an unknown one) is given; undefined without tiers. */
  defaultTier: string | undefined
  /** Every distinct counter name across tiers, for `reset`. */
  allPolicies: readonly Policy[]
  /** The store given, or undefined for a memory store the limiter creates and owns. */
  store: RateLimitStore | undefined
  /** Namespace of the counters. Default `"floodgate"`. */
  prefix: string
  /** Deadline of each remote store call, in ms. Default 250. */
  timeoutMs: number
  /** What a request gets when the store fails or times out. Default `"allow"`. */
  onStoreError: 'allow' | 'deny'
  /** True in mode `"shadow"`: count and report, never deny. Default false. */
  shadow: boolean
  /** Called with every store failure, if given. */
  onStoreFailure: ((error: FloodgateError) => unknown) | undefined
  /** Where warnings go; false when silenced. Default `console`. */
  logger: Logger
  /** Warning codes not to log. */
  silencedWarnings: ReadonlySet<string>
  /** The local cache of denials, when on. */
  denyCache: PublicMembers<DenyCache> | undefined
  /**
   * What decides instead of a store, for a limiter that has none (`fromUpstash`: its Ratelimit).
   * Undefined for `createRateLimiter`'s limiters.
   */
  decider?: string | undefined
}

/** The longest delay Node's timers keep (2^31 - 1 ms); a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647

function timeoutOf(value: unknown): number {
  const ms = parseDuration(value as Duration, 'timeout')
  if (ms > MAX_TIMER_MS) {
    invalidOption(
      'timeout',
      value,
      'at most 24 days (2,147,483,647 ms, the longest delay a Node.js timer keeps)',
    )
  }
  return ms
}

/** Shadow mode never answers from the cache, and the memory store (the default) answers as fast itself. */
function usesDenyCache(mode: string, store: RateLimitStore | undefined): boolean {
  return mode !== 'shadow' && store !== undefined && memoryFastPath(store) === undefined
}

/** Validates everything eagerly: a bad value throws here, never at request time. */
export function resolveLimiterOptions(
  options: RateLimiterOptions,
  extraKnown: readonly string[] = [],
): ResolvedLimiterOptions {
  const o = requireObject(options, 'createRateLimiter(options)')
  rejectUnknownOptions(o, [...LIMITER_OPTIONS, ...extraKnown], 'createRateLimiter()', LIMITER_PEER_HINTS)
  const tiers = new Map<string, readonly Policy[]>()
  let defaultTier: string | undefined
  if (o.policies !== undefined && o.tiers !== undefined) {
    invalidOption(
      'policies',
      'policies and tiers',
      'either `policies` or `tiers` with `defaultTier`, not both',
    )
  }
  if (o.tiers !== undefined) {
    if (o.tiers instanceof Map) {
      invalidOption(
        'tiers',
        o.tiers,
        'a plain object of tier names and their policies (`{ free: [...], pro: [...] }`), not a Map',
      )
    }
    const given = requireObject(o.tiers, 'tiers')
    if (Object.keys(given).length === 0) invalidOption('tiers', given, 'at least one tier')
    for (const [tier, policies] of Object.entries(given))
      tiers.set(tier, policyList(policies, `tiers.${tier}`))
    if (typeof o.defaultTier !== 'string' || !tiers.has(o.defaultTier)) {
      invalidOption(
        'defaultTier',
        o.defaultTier,
        `one of the configured tiers (${[...tiers.keys()].join(', ')})`,
      )
    }
    defaultTier = o.defaultTier
  } else if (o.policies !== undefined) {
    if (o.defaultTier !== undefined)
      invalidOption('defaultTier', o.defaultTier, 'no defaultTier without `tiers`')
    tiers.set('', policyList(o.policies, 'policies'))
  } else {
    invalidOption('policies', undefined, 'a policy, an array of policies, or `tiers` with `defaultTier`')
  }
  const prefix = o.prefix === undefined ? DEFAULT_PREFIX : o.prefix
  if (!isValidPrefix(prefix)) {
    invalidOption('prefix', prefix, '1 to 64 printable ASCII characters without spaces, `{` or `}`')
  }
  const store = o.store as RateLimitStore | undefined
  if (
    store !== undefined &&
    (typeof store !== 'object' || store === null || typeof store.consume !== 'function')
  ) {
    invalidOption(
      'store',
      store,
      'a store such as memoryStore(), redisStore({ client }) or upstashStore({ redis })',
    )
  }
  // `undefined` takes the default; anything else, `null` included, is checked (nothing replaced silently).
  const onStoreError = o.onStoreError === undefined ? 'allow' : o.onStoreError
  if (onStoreError !== 'allow' && onStoreError !== 'deny')
    invalidOption('onStoreError', onStoreError, '"allow" or "deny"')
  const mode = o.mode === undefined ? 'enforce' : o.mode
  if (mode !== 'enforce' && mode !== 'shadow') invalidOption('mode', mode, '"enforce" or "shadow"')
  if (o.onStoreFailure !== undefined && typeof o.onStoreFailure !== 'function') {
    invalidOption('onStoreFailure', o.onStoreFailure, 'a function')
  }
  const logger = checkLogger(o.logger, 'logger') ?? console
  const known: readonly string[] = Object.values(WARNING_CODES)
  const silenced = o.silenceWarnings === undefined ? [] : o.silenceWarnings
  if (!Array.isArray(silenced))
    invalidOption('silenceWarnings', silenced, 'an array of WARN_FLOODGATE_* codes')
  for (const code of silenced as unknown[]) {
    if (typeof code !== 'string' || !known.includes(code)) {
      invalidOption('silenceWarnings', code, `one of ${known.join(', ')}`)
    }
  }
  // Checked whatever the mode and store, as every other option is.
  const denyCache = resolveDenyCache(o.denyCache, store?.local ?? true, tiersUnsafeToCache(tiers))
  return {
    tiers,
    defaultTier,
    allPolicies: checkTierConsistency(tiers),
    store,
    prefix,
    timeoutMs: o.timeout === undefined ? DEFAULT_TIMEOUT_MS : timeoutOf(o.timeout),
    onStoreError,
    shadow: mode === 'shadow',
    onStoreFailure: o.onStoreFailure as ((error: FloodgateError) => unknown) | undefined,
    logger: logger as Logger,
    silencedWarnings: new Set(silenced as string[]),
    denyCache: usesDenyCache(mode, store) ? denyCache : undefined,
  }
}

/** Each kind of policy and the fields its factory gives it. */
const FIELDS: Readonly<Record<string, readonly string[]>> = {
  'fixed-window': ['kind', 'name', 'limit', 'windowMs'],
  'sliding-window': ['kind', 'name', 'limit', 'windowMs'],
  'token-bucket': ['kind', 'name', 'capacity', 'refillRate', 'intervalMs'],
}

function policyList(value: unknown, option: string): readonly Policy[] {
  const list = Array.isArray(value) ? value : [value]
  if (list.length === 0) invalidOption(option, value, 'at least one policy')
  const names = new Set<string>()
  const copies: Policy[] = []
  list.forEach((policy, i) => {
    const fields =
      policy === null || typeof policy !== 'object' || !Object.hasOwn(FIELDS, (policy as Policy).kind)
        ? undefined
        : FIELDS[(policy as Policy).kind]
    if (fields === undefined) {
      invalidOption(
        `${option}[${i}]`,
        policy,
        'a policy made by fixedWindow(), slidingWindow() or tokenBucket()',
      )
    }
    // A copy (`{ ...minute, limit: 100 }`) is welcome, but a field no policy reads would be ignored.
    rejectUnknownOptions(policy, fields, `the ${(policy as Policy).kind} policy at \`${option}[${i}]\``)
    // The limiter keeps its factory's own copy: plain values, read once (no getter or proxy behind).
    const copy = checkedCopy(policy as Policy, `${option}[${i}]`)
    copies.push(copy)
    const { name } = copy
    if (names.has(name)) {
      throw new FloodgateError(
        ERROR_CODES.POLICY_CONFLICT,
        `Two policies in \`${option}\` are named ${describeValue(name)}; counters are kept per name, so give each policy its own \`name\`.`,
        { option, value: name },
      )
    }
    names.add(name)
  })
  return Object.freeze(copies)
}

/**
 * Policies are plain data, so one copied with a field changed would skip its factory's checks: its
 * fields go through that factory again (which throws as it would have), and must come out the same
 * (a duration string where ms belong, a missing name, do not). The factory's result is what the
 * limiter keeps.
 */
function checkedCopy(policy: Policy, option: string): Policy {
  const { name } = policy
  let made: Policy
  let same: boolean
  if (policy.kind === 'token-bucket') {
    const { capacity, refillRate, intervalMs } = policy
    const bucket = tokenBucket({ name, capacity, refillRate, interval: intervalMs })
    same =
      bucket.name === name &&
      bucket.capacity === capacity &&
      bucket.refillRate === refillRate &&
      bucket.intervalMs === intervalMs
    made = bucket
  } else {
    const { limit, windowMs } = policy
    const factory = policy.kind === 'fixed-window' ? fixedWindow : slidingWindow
    const window = factory({ name, limit, window: windowMs })
    same = window.name === name && window.limit === limit && window.windowMs === windowMs
    made = window
  }
  if (!same) {
    invalidOption(
      option,
      policy,
      'the fields of a policy made by fixedWindow(), slidingWindow() or tokenBucket(): a name, and windowMs or intervalMs in milliseconds',
    )
  }
  return made
}

function period(policy: Policy): number {
  return policy.kind === 'token-bucket' ? policy.intervalMs : policy.windowMs
}

/** One name means one counter: across tiers it must keep its kind and period (limits may differ). */
function checkTierConsistency(tiers: Map<string, readonly Policy[]>): readonly Policy[] {
  const byName = new Map<string, { policy: Policy; tier: string }>()
  for (const [tier, policies] of tiers) {
    for (const policy of policies) {
      const seen = byName.get(policy.name)
      if (seen === undefined) {
        byName.set(policy.name, { policy, tier })
      } else if (seen.policy.kind !== policy.kind || period(seen.policy) !== period(policy)) {
        throw new FloodgateError(
          ERROR_CODES.POLICY_CONFLICT,
          `Policy ${describeValue(policy.name)} is a ${policy.kind} of ${period(policy)} ms in tier "${tier}" but a ${seen.policy.kind} of ${period(seen.policy)} ms in tier "${seen.tier}". A name is one counter shared by every tier, so tiers may change its limit, not its kind or window; rename one.`,
          { option: `tiers.${tier}`, value: policy.name },
        )
      }
    }
  }
  return Object.freeze([...byName.values()].map((v) => v.policy))
}

/**
 * The options that give a limiter of the same settings as `config`, its policies and tiers aside:
 * the inverse of {@link resolveLimiterOptions} for what an adapter passes on (a Fastify route with
 * limits of its own under the plugin's `limiter`). A memory store the limiter made for itself is
 * left out (a limiter built from these makes one of its own), and so are unset callbacks.
 */
export function limiterSettingsOf(config: Partial<ResolvedLimiterOptions>): RateLimiterOptions {
  const settings: Record<string, unknown> = {
    prefix: config.prefix,
    timeout: config.timeoutMs,
    onStoreError: config.onStoreError,
    mode: config.shadow === true ? 'shadow' : 'enforce',
    onStoreFailure: config.onStoreFailure,
    logger: config.logger,
    silenceWarnings: config.silencedWarnings === undefined ? undefined : [...config.silencedWarnings],
    store: config.store,
    denyCache: config.denyCache === undefined ? false : undefined,
  }
  for (const [name, value] of Object.entries(settings)) if (value === undefined) delete settings[name]
  return settings as RateLimiterOptions
}
