import { withDeadline } from '../deadline.js'
import type { Decision, PolicyDecision } from '../decision.js'
import { type Duration, parseDuration } from '../duration.js'
import { describeValue, ERROR_CODES, FloodgateError, invalidOption } from '../errors.js'
import { boundIdentifier } from '../keys.js'
import {
  checkLimitOptions,
  type LimitOptions,
  type RateLimiter,
  warnNoTiers,
  warnUnknownTier,
} from '../limiter.js'
import { type ResolvedLimiterOptions, resolveLimiterOptions } from '../limiter-options.js'
import { rejectUnknownOptions, requireObject, validatePolicyName } from '../policies/common.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { resetFailure, StoreOutage } from '../store-failure.js'
import type { Logger, WarningCode } from '../warnings.js'
import { Warnings } from '../warnings.js'
import { lacksCredentials } from './upstash-store.js'

/** What `@upstash/ratelimit`'s `limit()` answers (the fields Floodgate reads). */
export interface UpstashRatelimitResponse {
  /** Whether the request is admitted. */
  success: boolean
  /** The quota; 0 in its timeout answer. */
  limit: number
  /** Requests left in the quota. */
  remaining: number
  /** Epoch ms at which the quota resets; 0 in its timeout answer. */
  reset: number
  /** Background work (analytics, multi-region sync) that the Ratelimit asks callers to await. */
  pending?: Promise<unknown>
  /** Why the answer came out this way, e.g. `"timeout"`, `"cacheBlock"`, `"denyList"`. */
  reason?: string
}

/** The few `Ratelimit` methods used. */
export interface UpstashRatelimit {
  /** Decides on one request; `rate` is its cost. */
  limit(identifier: string, request?: { rate?: number }): Promise<UpstashRatelimitResponse>
  /** The quota left (`remaining`), when it resets (`reset`, epoch ms) and the quota (`limit`), without charging. */
  getRemaining(identifier: string): Promise<{
    /** Requests left. */
    remaining: number
    /** Epoch ms at which the quota resets. */
    reset: number
    /** The quota, when the Ratelimit reports it. */
    limit?: number
  }>
  /** Deletes the identifier's counters. */
  resetUsedTokens(identifier: string): Promise<void>
}

/**
 * One Ratelimit per tier (plan), for `fromUpstash({ free, pro }, { defaultTier: 'free', ... })`. Give
 * them one prefix and one window so that a plan change keeps the usage, as Floodgate's tiers do
 * (Ratelimit keys a count by prefix, identifier and window, not by limit).
 */
export type UpstashRatelimitTiers = Readonly<Record<string, UpstashRatelimit>>

/** Options of {@link fromUpstash}. */
export interface FromUpstashOptions {
  /**
   * The window (or refill interval) the Ratelimit was built with: the `w` of RateLimit-Policy, and
   * where a `cachedFixedWindow` keeps its in-process count (its answers are not Upstash's).
   */
  window: Duration
  /**
   * With one Ratelimit per tier: the tier of a request that names none, or one not configured
   * (never unlimited). Required then, and refused with a single Ratelimit.
   */
  defaultTier?: string | undefined
  /** The policy name in headers. Default `"upstash"`. */
  name?: string | undefined
  /** Deadline of each call, on top of the Ratelimit's own `timeout`. Default `"250 ms"`. */
  timeout?: Duration | undefined
  /** What a request gets when Upstash fails or times out. Default `"allow"`. */
  onStoreError?: 'allow' | 'deny' | undefined
  /** Called with every failure or timeout of the Ratelimit, besides the logged warning; may be async. */
  onStoreFailure?: ((error: FloodgateError) => unknown) | undefined
  /** Where warnings go. Default `console`; `false` silences them. */
  logger?: Logger | undefined
  /** Warning codes not to log (`WARN_FLOODGATE_STORE_FAILURE`, …), as in `createRateLimiter`. */
  silenceWarnings?: readonly WarningCode[] | undefined
  /**
   * Given the Ratelimit's `pending` work of each call (analytics, a `cachedFixedWindow`'s increment,
   * the deny list's refresh), its failure already caught: pass your platform's `waitUntil` (Vercel's
   * from `@vercel/functions`) so that a function frozen after its response does not lose it.
   */
  waitUntil?: ((pending: Promise<unknown>) => void) | undefined
}

const OPTIONS = [
  'window',
  'defaultTier',
  'name',
  'timeout',
  'onStoreError',
  'onStoreFailure',
  'logger',
  'silenceWarnings',
  'waitUntil',
] as const

/** What `fromUpstash` reads of a Ratelimit's unexported state (2.x), each part checked before use. */
interface RatelimitInternals {
  prefix?: unknown
  ctx?: {
    redis?: { eval?: (script: string, keys: string[], args: string[]) => Promise<unknown> }
    cache?: { pop?: (key: string) => void; get?: (key: string) => unknown }
    regionContexts?: unknown
  }
}

/** A MultiRegionRatelimit keeps one context per region. */
function isMultiRegion(ratelimit: UpstashRatelimit): boolean {
  return Array.isArray((ratelimit as unknown as RatelimitInternals).ctx?.regionContexts)
}

/**
 * Hands an answer's `pending` work to `waitUntil`, its failure caught, and tells `settled` how it
 * ended (with no error at once when there is none to wait for).
 */
function catchPending(
  answer: { pending?: Promise<unknown> } | undefined,
  waitUntil: ((pending: Promise<unknown>) => void) | undefined,
  settled: (failure?: { error: unknown }) => void,
): void {
  const pending: unknown = answer?.pending
  // Typed a promise; anything else that can be awaited is caught too, and the rest ignored.
  if (
    pending !== null &&
    typeof pending === 'object' &&
    typeof (pending as PromiseLike<unknown>).then === 'function'
  ) {
    const caught = Promise.resolve(pending).then(
      () => settled(),
      (error: unknown) => settled({ error }),
    )
    try {
      waitUntil?.(caught)
    } catch {
      // The platform's, not the decision's: a waitUntil that throws changes nothing here.
    }
  } else settled()
}

function noop(): void {}

/**
 * What Ratelimit 2.2 keeps under its prefix besides counters: `prefix:<name>` and `prefix:<name>:…`
 * (refused as identifiers: Ratelimit's own reset, the fallback below, would delete them).
 */
const RATELIMIT_OWN_KEYS = ['dynamic', 'denyList', 'events', 'ipDenyListStatus']

/**
 * Deletes exactly one identifier's counters, as Ratelimit 2.x writes them under KEYS[1]
 * (`prefix:id`): a token bucket's hash at `prefix:id`, a window's (fixed, sliding, cached) counts
 * at `prefix:id:<window number>`, strings. Another identifier's never match: `prefix:id:1` is the
 * hash of identifier `id:1`, `prefix:id:b:<n>` a count of `id:b`, and a string `prefix:id` is a
 * count of a shorter identifier (`x` at `prefix:x:5` for the identifier `x:5`). ARGV[1] is KEYS[1]
 * with glob characters escaped, for SCAN's MATCH. Answers the number of keys deleted.
 */
const EXACT_RESET_SCRIPT = `
local key = KEYS[1]
local function kind(k)
  local t = redis.call('TYPE', k)
  if type(t) == 'table' then return t.ok end
  return t
end
local deleted = 0
if kind(key) == 'hash' then deleted = deleted + redis.call('DEL', key) end
local head = key .. ':'
local cursor = '0'
repeat
  local scanned = redis.call('SCAN', cursor, 'MATCH', ARGV[1] .. ':*', 'COUNT', 1000)
  cursor = scanned[1]
  for _, k in ipairs(scanned[2]) do
    if string.sub(k, 1, #head) == head and string.match(string.sub(k, #head + 1), '^%d+$') and kind(k) == 'string' then
      deleted = deleted + redis.call('DEL', k)
    end
  end
until cursor == '0'
return deleted
`

/**
 * Uses an existing `@upstash/ratelimit` `Ratelimit` as a Floodgate limiter: its keys, analytics
 * and dashboard stay; Floodgate's middleware gets decisions and headers from its answers. Its
 * timeout answer (`reason: "timeout"`, limit/remaining/reset 0) becomes a store error, never
 * "blocked" headers. Tiers: one Ratelimit per tier (`fromUpstash({ free, pro }, { defaultTier })`),
 * chosen by each call's `tier`. Peek's exact maths is a Floodgate-store feature: `peek` here reads
 * `getRemaining`. A `MultiRegionRatelimit`'s `reset()` is refused (docs/stores.md).
 */
export function fromUpstash(
  ratelimit: UpstashRatelimit | UpstashRatelimitTiers,
  options: FromUpstashOptions,
): RateLimiter {
  const { ratelimits, tiered } = ratelimitsOf(ratelimit)
  const o = requireObject(options, 'fromUpstash(ratelimit, options)')
  rejectUnknownOptions(o, OPTIONS, 'fromUpstash()')
  const { window, name, waitUntil, defaultTier, ...rest } = o as unknown as FromUpstashOptions
  if (tiered ? typeof defaultTier !== 'string' || !ratelimits.has(defaultTier) : defaultTier !== undefined) {
    invalidOption(
      'fromUpstash.defaultTier',
      defaultTier,
      tiered
        ? `one of the tiers given (${[...ratelimits.keys()].join(', ')})`
        : 'no defaultTier with a single Ratelimit (give one Ratelimit per tier: `fromUpstash({ free, pro }, { defaultTier: "free" })`)',
    )
  }
  if (waitUntil !== undefined && typeof waitUntil !== 'function') {
    invalidOption('fromUpstash.waitUntil', waitUntil, "a function, your platform's waitUntil")
  }
  // Checked under the names the caller wrote, not those of the policy they become.
  const policy = fixedWindow({
    name: name === undefined ? 'upstash' : validatePolicyName(name, 'fromUpstash.name'),
    limit: 1,
    window: parseDuration(window, 'fromUpstash.window'),
  })
  // Every tier has the one policy that stands for its Ratelimit in headers; its limit is the answer's.
  const limits = tiered
    ? { tiers: Object.fromEntries([...ratelimits.keys()].map((tier) => [tier, policy])), defaultTier }
    : { policies: policy }
  const config = { ...resolveLimiterOptions({ ...rest, ...limits }), decider: 'Upstash Ratelimit' }
  return new UpstashLimiter(ratelimits, config, policy.windowMs, policy.name, waitUntil)
}

/** The Ratelimits by tier (`""` for a single one), each checked; refuses anything else. */
function ratelimitsOf(given: unknown): { ratelimits: Map<string, UpstashRatelimit>; tiered: boolean } {
  const expected =
    'a Ratelimit from @upstash/ratelimit, or one per tier (`{ free: Ratelimit, pro: Ratelimit }`)'
  if (given === null || typeof given !== 'object') invalidOption('fromUpstash(ratelimit)', given, expected)
  const ratelimits = new Map<string, UpstashRatelimit>()
  const tiered = typeof (given as Partial<UpstashRatelimit>).limit !== 'function'
  if (!tiered) {
    ratelimits.set('', given as UpstashRatelimit)
  } else if (!Array.isArray(given) && !(given instanceof Map)) {
    for (const [tier, ratelimit] of Object.entries(given)) {
      if (
        ratelimit === null ||
        typeof ratelimit !== 'object' ||
        typeof (ratelimit as Partial<UpstashRatelimit>).limit !== 'function'
      ) {
        invalidOption(`fromUpstash(ratelimit).${tier}`, ratelimit, 'a Ratelimit from @upstash/ratelimit')
      }
      ratelimits.set(tier, ratelimit as UpstashRatelimit)
    }
  }
  if (ratelimits.size === 0) invalidOption('fromUpstash(ratelimit)', given, expected)
  for (const [tier, ratelimit] of ratelimits) {
    const context = (ratelimit as { ctx?: { redis?: unknown; regionContexts?: { redis?: unknown }[] } }).ctx
    const clients = [context?.redis, ...(context?.regionContexts ?? []).map((region) => region?.redis)]
    if (clients.some(lacksCredentials)) {
      invalidOption(
        tiered ? `fromUpstash(ratelimit).${tier}` : 'fromUpstash(ratelimit)',
        ratelimit,
        'a Ratelimit whose @upstash/redis client has a URL and a token (`Redis.fromEnv()` reads UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN: are they set?); without them every call fails',
      )
    }
  }
  return { ratelimits, tiered }
}

class UpstashLimiter implements RateLimiter {
  readonly warnings: Warnings
  /** Ratelimit's failures and recoveries, as the log tells them. */
  private readonly outage: StoreOutage
  private closed = false
  /** Per tier (`""` without tiers), the quota of its Ratelimit's last answer that gave one. */
  private readonly lastLimits = new Map<string, number>()
  /** Resets begun and still running: a limit() answered after one of them forgets its cached block. */
  private resetsBegun = 0
  private resetsRunning = 0
  /** Decisions answered as store failures so far (see `limit`: which answers tell a recovery). */
  private failures = 0

  constructor(
    /** The Ratelimit of each tier; one, under `""`, without tiers. */
    private readonly ratelimits: ReadonlyMap<string, UpstashRatelimit>,
    readonly config: ResolvedLimiterOptions,
    private readonly windowMs: number,
    private readonly name: string,
    private readonly waitUntil: ((pending: Promise<unknown>) => void) | undefined,
  ) {
    this.warnings = new Warnings(config.logger, Date.now, config.silencedWarnings)
    const prefixes = new Set([...ratelimits.values()].map((r) => (r as unknown as RatelimitInternals).prefix))
    const [prefix] = prefixes
    const which =
      ratelimits.size > 1 ? `the Ratelimits of tiers ${[...ratelimits.keys()].join(', ')}` : 'the Ratelimit'
    this.outage = new StoreOutage(
      this.warnings,
      config,
      'Upstash Ratelimit',
      prefixes.size === 1 && typeof prefix === 'string'
        ? `${which} with prefix ${JSON.stringify(prefix)}`
        : which,
      true,
    )
  }

  async limit(identifier: string, options?: LimitOptions): Promise<Decision> {
    const { id, cost, tier } = this.check(identifier, options)
    const ratelimit = this.ratelimits.get(tier ?? '')!
    try {
      // A reset begun before this call and still running may run after it in Redis, as may one
      // begun after it: either way its answer is not to leave a block behind the reset.
      const resetsBefore = this.resetsBegun - this.resetsRunning
      // The store answers again (a recovery to log) at an answer of Redis's (no reason) given in
      // time to a call begun after the last failure: not one Ratelimit gave from its in-process
      // cache, a cachedFixedWindow's count or a blocked identifier ('cacheBlock'), which it gives
      // with Redis down; not one begun before a failure it then came back after (Redis failing
      // meanwhile); nor work done after the answer (analytics), whose failures Ratelimit swallows.
      const fromCache = this.countedInProcess(ratelimit, id)
      const failuresBefore = this.failures
      const startedAt = performance.now()
      const answered = ratelimit.limit(id, cost === 1 ? undefined : { rate: cost })
      // Analytics and multi-region sync settle later, also when the answer itself comes after the
      // deadline below: a failure there (a region answering 500) must not go unhandled.
      void Promise.resolve(answered)
        .then((answer) => {
          // A denial answered after a reset began (late, or after the deadline) has cached a block
          // in Ratelimit that the reset's own forgetting came too early for.
          if (this.resetsBegun !== resetsBefore) this.forgetCachedBlock(ratelimit, id)
          // A cachedFixedWindow's admission from its count: its pending work is its increment to
          // Upstash, which tells whether Upstash answers. Other pending work (the IP deny list's
          // refresh from GitHub, a region's sync) says nothing of it: a failure there is logged and
          // reported, and opens no outage.
          const increment = fromCache && answer.success && answer.reason === undefined
          catchPending(answer, this.waitUntil, (failure) => {
            if (failure !== undefined) {
              if (increment) this.failures++
              this.outage.failedLater(failure.error, this.name, increment)
            } else if (
              // Upstash answers once the increment is written, in time, with no failure since the call began.
              increment &&
              performance.now() - startedAt <= this.config.timeoutMs &&
              this.failures === failuresBefore
            ) {
              this.outage.answered()
            }
          })
        }, noop)
        .catch(noop)
      const answer = await withDeadline(answered, this.config.timeoutMs, 'Upstash Ratelimit')
      if (answer.reason === 'timeout') {
        throw new FloodgateError(
          ERROR_CODES.STORE_TIMEOUT,
          'Upstash Ratelimit answered with its timeout response (limit 0, remaining 0).',
        )
      }
      if (answer.limit > 0) this.lastLimits.set(tier ?? '', answer.limit)
      if (answer.reason === 'denyList' && !answer.success) {
        // On Ratelimit's deny list (enableProtection): denied for as long as it stays there, so no
        // time to retry at. Its answer from its in-process cache reads limit 0 and reset 0: the
        // quota shown is the last one Ratelimit gave (0 before any).
        // Its cache also answers reset 0: the quota shown resets when the window does, as the first
        // denial (Ratelimit's answer from Redis) said, not now.
        const now = Date.now()
        const windowEnd = (Math.floor(now / this.windowMs) + 1) * this.windowMs
        return this.decision(
          false,
          this.lastLimits.get(tier ?? '') ?? 0,
          0,
          answer.reset > now ? answer.reset : windowEnd,
          cost,
          tier,
          true,
        )
      }
      const decision = this.decision(answer.success, answer.limit, answer.remaining, answer.reset, cost, tier)
      if (answer.reason === undefined && !fromCache && this.failures === failuresBefore)
        this.outage.answered()
      return decision
    } catch (error) {
      return this.failure(error, cost, tier)
    }
  }

  // `peek`, `reset` and `close` are own properties, bound, as on createRateLimiter's limiters: a
  // wrapper made by spreading the limiter keeps them, and so does `const { reset } = limiter`.
  readonly peek = async (identifier: string, options?: LimitOptions): Promise<Decision> => {
    const { id, cost, tier } = this.check(identifier, options, 'peek')
    try {
      const r = await withDeadline(
        this.ratelimits.get(tier ?? '')!.getRemaining(id),
        this.config.timeoutMs,
        'Upstash Ratelimit',
      )
      // getRemaining is the quota left now; limit() answers what is left after an admitted request.
      const admitted = r.remaining >= cost
      const remaining = admitted ? r.remaining - cost : r.remaining
      // A token bucket's getRemaining (2.2) gives its tokens as last stored, without the refill
      // since: its reset may be past. Never a reset instant before now.
      const decision = this.decision(
        admitted,
        r.limit ?? r.remaining,
        remaining,
        Math.max(r.reset, Date.now()),
        cost,
        tier,
      )
      // No recovery told here: a cachedFixedWindow's getRemaining answers from its in-process count.
      return decision
    } catch (error) {
      return this.failure(error, cost, tier)
    }
  }

  readonly reset = async (identifier: string): Promise<void> => {
    const { id } = this.check(identifier, undefined)
    // Every tier's Ratelimit: usage belongs to the identifier, whatever its plan.
    const ratelimits = [...new Set(this.ratelimits.values())]
    if (ratelimits.some(isMultiRegion)) {
      throw new FloodgateError(
        ERROR_CODES.STORE_ERROR,
        "reset() cannot reset a MultiRegionRatelimit: its resetUsedTokens (@upstash/ratelimit 2.2) returns before any region is reset, leaves a failing region's error unhandled (which ends the process), and its region sync can restore the counts. Reset each region through a single-region Ratelimit on its Redis, or move to upstashStore().",
      )
    }
    for (const ratelimit of ratelimits) this.assertResettable(ratelimit, id)
    this.resetsBegun++
    this.resetsRunning++
    try {
      for (const ratelimit of ratelimits) await this.resetCounters(ratelimit, id)
    } finally {
      this.resetsRunning--
    }
  }

  private async resetCounters(ratelimit: UpstashRatelimit, id: string): Promise<void> {
    const internals = ratelimit as unknown as RatelimitInternals
    const client = internals.ctx?.redis
    // SCAN's MATCH reads glob characters: escaped, `x*` matches no `xy`.
    const escapeGlob = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&')
    const exact = typeof internals.prefix === 'string' && typeof client?.eval === 'function'
    const pattern = escapeGlob(id)
    // Forgotten before the reset (a limit() made while it runs is not answered from a cached
    // block), as Ratelimit's own reset does, under the key it blocked (not the escaped one).
    if (exact || pattern !== id) this.forgetCachedBlock(ratelimit, id)
    // Bounded like every store call: an Upstash that hangs makes reset() reject, not wait for ever.
    try {
      if (exact) {
        // One script, one request, through the Ratelimit's own client: exactly the identifier's
        // counters. Ratelimit's resetUsedTokens deletes `prefix:id:*`, the identifiers `id:…` too.
        const key = `${internals.prefix}:${id}`
        await withDeadline(
          client!.eval!(EXACT_RESET_SCRIPT, [key], [escapeGlob(key)]),
          this.config.timeoutMs,
          'Upstash Ratelimit',
        )
      } else {
        // A Ratelimit without its client's eval: its own reset, by the pattern `prefix:id:*`.
        await withDeadline(ratelimit.resetUsedTokens(pattern), this.config.timeoutMs, 'Upstash Ratelimit')
      }
    } catch (cause) {
      throw resetFailure(cause, 'Upstash Ratelimit', this.config)
    }
    // And after it, for every identifier: a limit() that reached Redis before the reset and was
    // denied cached a block that would outlive the reset until the window's end.
    this.forgetCachedBlock(ratelimit, id)
  }

  /**
   * Refuses a reset that Ratelimit's own (the fallback in `resetCounters`) would carry further than
   * the identifier: a prefix with glob characters (it is not escaped by Ratelimit), or an
   * identifier naming Ratelimit's own keys under its prefix (the dynamic limit, the deny list,
   * analytics events). Refused whichever way the reset is sent, so that it does not depend on it.
   */
  private assertResettable(ratelimit: UpstashRatelimit, id: string): void {
    const prefix = (ratelimit as unknown as RatelimitInternals).prefix
    const reason =
      typeof prefix === 'string' && /[*?[\]\\]/.test(prefix)
        ? `its prefix ${JSON.stringify(prefix)} holds glob characters, which Ratelimit's reset pattern does not escape (it would reset other prefixes' counters, or none)`
        : RATELIMIT_OWN_KEYS.some((own) => id === own || id.startsWith(`${own}:`))
          ? `the identifier ${JSON.stringify(id)} names Ratelimit's own keys under its prefix, which its reset pattern would delete`
          : undefined
    if (reason !== undefined) {
      throw new FloodgateError(
        ERROR_CODES.STORE_ERROR,
        `reset() refused for this Ratelimit: ${reason}. Delete the identifier's keys yourself, or move to upstashStore(), whose reset deletes exact keys.`,
      )
    }
  }

  /** Whether a cachedFixedWindow will answer `id` from its in-process count (its window's entry). */
  private countedInProcess(ratelimit: UpstashRatelimit, id: string): boolean {
    const internals = ratelimit as unknown as RatelimitInternals
    const get = internals.ctx?.cache?.get
    if (typeof internals.prefix !== 'string' || typeof get !== 'function') return false
    const key = `${internals.prefix}:${id}:${Math.floor(Date.now() / this.windowMs)}`
    return typeof get.call(internals.ctx!.cache, key) === 'number'
  }

  private forgetCachedBlock(ratelimit: UpstashRatelimit, id: string): void {
    const internals = ratelimit as unknown as RatelimitInternals
    if (typeof internals.prefix !== 'string') return
    const key = `${internals.prefix}:${id}`
    internals.ctx?.cache?.pop?.(key)
    // Ratelimit.cachedFixedWindow keeps the window's count in that cache too, under the window's
    // number (its window is the `window` option's).
    internals.ctx?.cache?.pop?.(`${key}:${Math.floor(Date.now() / this.windowMs)}`)
  }

  readonly close = async (): Promise<void> => {
    this.closed = true
  }

  private check(
    identifier: string,
    options: LimitOptions | undefined,
    where: 'limit' | 'peek' = 'limit',
  ): { id: string; cost: number; tier: string | undefined } {
    if (this.closed) {
      throw new FloodgateError(ERROR_CODES.CLOSED, 'This rate limiter was closed; create a new one.')
    }
    const id = boundIdentifier(identifier)
    if (options !== undefined && options !== null) checkLimitOptions(options, where)
    // The cost before the tier, as createRateLimiter checks them: a refused call says nothing of its tier.
    const cost = options?.cost ?? 1
    if (typeof cost !== 'number' || !Number.isSafeInteger(cost) || cost < 1) {
      throw new FloodgateError(
        ERROR_CODES.INVALID_COST,
        `Invalid cost: got ${String(cost)}; expected a whole number of at least 1.`,
        {
          option: 'cost',
          value: cost,
        },
      )
    }
    const { defaultTier } = this.config
    let tier = defaultTier
    if (options !== undefined && options !== null) {
      const requested: unknown = options.tier
      if (requested !== undefined) {
        if (defaultTier === undefined) {
          warnNoTiers(
            this.warnings,
            requested,
            "a limiter made by fromUpstash has no tiers: its Ratelimit's limit applies to every request. For plans, give it one Ratelimit per tier (`fromUpstash({ free, pro }, { defaultTier: 'free', window })`).",
          )
        } else if (typeof requested === 'string' && this.ratelimits.has(requested)) {
          tier = requested
        } else {
          // An unknown tier is never unlimited: the default tier's Ratelimit answers.
          warnUnknownTier(this.warnings, requested, this.ratelimits, defaultTier)
        }
      }
    }
    return { id, cost, tier }
  }

  /** `denied`: on Ratelimit's deny list, limited with no time to retry at. */
  private decision(
    success: boolean,
    limit: number,
    remaining: number,
    resetMs: number,
    cost: number,
    tier: string | undefined,
    denied = false,
  ): Decision {
    // Checked as createRateLimiter checks a store's answer: a Ratelimit whose backend misbehaves
    // could otherwise give headers reading NaN, or a denial with no Retry-After.
    // Whole numbers, and a limit of at least 0 (a dynamic limit of -1 answers so).
    if (
      typeof success !== 'boolean' ||
      !Number.isSafeInteger(limit) ||
      limit < 0 ||
      !Number.isSafeInteger(remaining) ||
      !Number.isSafeInteger(resetMs) ||
      resetMs < 0
    ) {
      throw new FloodgateError(
        ERROR_CODES.STORE_ERROR,
        `Upstash Ratelimit answered something that is not a decision: success ${describeValue(success)}, limit ${describeValue(limit)}, remaining ${describeValue(remaining)}, reset ${describeValue(resetMs)}.`,
      )
    }
    const nowMs = Date.now()
    // Never a reset instant before now (a reset in the past would read as "restored already").
    const resetAtMs = Math.max(resetMs, nowMs)
    // A cost above the limit is never admitted, so no time to retry at (as every policy answers).
    const neverAdmissible = !success && !denied && cost > limit
    const retryAfterMs = success
      ? 0
      : neverAdmissible || denied
        ? Number.POSITIVE_INFINITY
        : Math.max(1, resetAtMs - nowMs)
    const part: PolicyDecision = {
      name: this.name,
      kind: 'fixed-window',
      limit,
      windowMs: this.windowMs,
      allowed: success,
      // A negative count (Ratelimit's over-limit count) is none left; more than the limit (a token
      // bucket whose limit was lowered keeps its tokens until its next refill) is the limit.
      remaining: Math.min(limit, Math.max(0, remaining)),
      resetAtMs,
      retryAfterMs,
    }
    const shadow = !success && this.config.shadow
    return {
      allowed: success || shadow,
      limit,
      remaining: part.remaining,
      resetAtMs,
      retryAfterMs,
      policy: this.name,
      tier,
      reason: success
        ? 'allowed'
        : shadow
          ? 'shadow-limited'
          : neverAdmissible
            ? 'cost-exceeds-limit'
            : 'limited',
      cost,
      nowMs,
      policies: [part],
    }
  }

  private failure(cause: unknown, cost: number, tier: string | undefined): Decision {
    this.failures++
    return this.outage.failed(cause, { policy: this.name, tier, cost })
  }
}
