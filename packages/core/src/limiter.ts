import { DeadlineQueue, type PendingCall, withDeadline } from './deadline.js'
import { bindingIndex, type Decision, describePolicy, type PolicyDecision } from './decision.js'
import type { DenyCache } from './deny-cache.js'
import { describeValue, ERROR_CODES, FloodgateError, invalidOption } from './errors.js'
import { boundIdentifier, counterName } from './keys.js'
import {
  type RateLimiterOptions,
  type ResolvedLimiterOptions,
  resolveLimiterOptions,
} from './limiter-options.js'
import { peerHints } from './peer-options.js'
import { rejectUnknownOptions } from './policies/common.js'
import type { Policy, PolicyOutcome } from './policies/types.js'
import { counterSpace, registry } from './process-registry.js'
import { type QueuedCall, readOutcome, SUBMIT, type SubmittingStore, submittingStore } from './queued-call.js'
import type { RateLimitStore, StoreResponse } from './store.js'
import { resetFailure, StoreOutage } from './store-failure.js'
import { type MemoryFastPath, memoryFastPath, memoryStore } from './stores/memory-store.js'
import { deliverStoreNotice, type PublicMembers, WARNING_CODES, Warnings } from './warnings.js'

/** For each store given to a limiter: how many open limiters count each (prefix, counter). */
const { countersInUse } = registry

/** Takes a limiter's claims (`${prefix}\0${counterName}`) off a store's count of its open limiters. */
function release(claims: Map<string, number>, claimed: readonly string[]): void {
  for (const counter of claimed) {
    const holders = (claims.get(counter) ?? 1) - 1
    if (holders > 0) claims.set(counter, holders)
    else claims.delete(counter)
  }
}

/** The claims of limiters collected without close(), released then. */
const droppedLimiters = new FinalizationRegistry<{ claims: Map<string, number>; claimed: readonly string[] }>(
  ({ claims, claimed }) => release(claims, claimed),
)

/** Per place counters live (see counterSpace), the claims SHARED_COUNTERS has been said for. */
const sharedWarned = new WeakMap<object, Set<string>>()

/**
 * Claims remembered per place as said. The place lives as long as the app (a Redis client), and
 * limiters made per tenant (or per request) with a prefix each name new claims for good: past this
 * many it starts afresh, and a claim shared again after that is said once more.
 */
export const MAX_SHARED_WARNED = 1_024

/** How many claims SHARED_COUNTERS is remembered as said for on `space` (for tests: it must stay bounded). */
export function sharedWarnedSize(space: object): number {
  return sharedWarned.get(space)?.size ?? 0
}

/** Per-request options of `limit()` and `peek()`. */
export interface LimitOptions {
  /** Units this request costs: a positive safe integer. Default 1. */
  cost?: number | undefined
  /** The tier (plan) whose policies apply. Default: the limiter's `defaultTier`. */
  tier?: string | undefined
}

/** A rate limiter made by {@link createRateLimiter}: decides, peeks and resets per identifier. */
export interface RateLimiter {
  /** Decides on one request and charges it if admitted. Rejects only for a bad argument or after `close()`. */
  limit(identifier: string, options?: LimitOptions): Promise<Decision>
  /** The decision `limit()` would give now, changing nothing. */
  peek(identifier: string, options?: LimitOptions): Promise<Decision>
  /** Deletes exactly this identifier's counters of every policy in every tier (never a pattern). */
  reset(identifier: string): Promise<void>
  /** Releases the limiter (and its store, when the limiter created it). Idempotent. */
  close(): Promise<void>
  /** The resolved configuration, read-only (used by the adapters). */
  readonly config: Readonly<ResolvedLimiterOptions>
  /** Warnings sink shared with adapters, deduplicated per code. */
  readonly warnings: Warnings
}

/**
 * The limiter's `limit()` that answers with the decision itself when it is known at once (the memory
 * store, the deny cache), and with a promise of it otherwise; throws for a bad argument. The
 * adapters call it so that a request on the memory store waits on no promise at all. Not part of
 * the public API.
 */
export const DECIDE_NOW = Symbol('floodgate.decideNow')

/** A limiter offering {@link DECIDE_NOW}: every limiter made by {@link createRateLimiter}. */
export interface DecidingNow {
  [DECIDE_NOW](identifier: string, options?: LimitOptions): Decision | Promise<Decision>
}

/**
 * `limiter`'s {@link DECIDE_NOW} path, or undefined for another implementation of RateLimiter, and
 * for a wrapper of one of ours that replaces `limit()` (a Proxy, an object made by `Object.create`):
 * it inherits the path, which would bypass its own `limit()`.
 */
export function decidingNow(limiter: RateLimiter): DecidingNow | undefined {
  return limiter.limit === Limiter.prototype.limit &&
    typeof (limiter as Partial<DecidingNow>)[DECIDE_NOW] === 'function'
    ? (limiter as RateLimiter & DecidingNow)
    : undefined
}

/** Creates a rate limiter. Every option is validated here; see `RateLimiterOptions`. */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  return new Limiter(resolveLimiterOptions(options))
}

/** Builds a limiter from options already resolved (adapters resolve their own extra options first). */
export function createRateLimiterFromResolved(config: ResolvedLimiterOptions): RateLimiter {
  return new Limiter(config)
}

class Limiter implements RateLimiter, DecidingNow {
  readonly warnings: Warnings
  private readonly store: RateLimitStore
  private readonly ownsStore: boolean
  private closed = false
  /** What a request without options gets: `tierOf(undefined)` and its policies, resolved once. */
  private readonly defaultTier: string | undefined
  private readonly defaultPolicies: readonly Policy[]
  /**
   * Each tier's policies, in arrays of the limiter's own. The config's arrays are frozen, and V8 11
   * (Node 20) reads an element of a frozen array in optimised code through a generic keyed load:
   * a hot-key decision on the memory store took about a fifth longer with them (docs/benchmarks-history.md).
   */
  private readonly tierPolicies: ReadonlyMap<string, readonly Policy[]>
  /** Set when the store is a `memoryStore()`: its allocation-free path for one-policy requests. */
  private readonly memory: MemoryFastPath | undefined
  /** Set when the store offers the SUBMIT path (the Redis and Upstash stores): no promise layers. */
  private readonly submitting: SubmittingStore | undefined
  /** The `timeout` of calls to a remote store. */
  private readonly deadlines: DeadlineQueue
  /** The store's failures and recoveries, as the log tells them. */
  private readonly outage: StoreOutage

  constructor(readonly config: ResolvedLimiterOptions) {
    this.defaultTier = config.defaultTier
    this.tierPolicies = new Map([...config.tiers].map(([name, list]) => [name, [...list]]))
    this.defaultPolicies = this.tierPolicies.get(config.defaultTier ?? '')!
    this.store = config.store ?? memoryStore()
    this.ownsStore = config.store === undefined
    this.memory = memoryFastPath(this.store)
    this.submitting = submittingStore(this.store)
    this.warnings = new Warnings(config.logger, Date.now, config.silencedWarnings)
    // The store's warning about its client, unless the store was given a logger of its own.
    deliverStoreNotice(this.store, this.warnings)
    this.deadlines = new DeadlineQueue(config.timeoutMs)
    this.outage = new StoreOutage(
      this.warnings,
      config,
      `${this.store.name} store`,
      `the limiter with prefix "${config.prefix}"`,
      // The memory store's own path never reports an answer: its failures (STORE_FULL) end quietly.
      this.memory === undefined,
    )
    if (!this.ownsStore) this.claimCounters()
  }

  /** The (prefix, counter) pairs this limiter counts in a store it was given, while open. */
  private claimed: string[] = []

  /**
   * Counters belong to (prefix, counterName(policy), identifier), whichever limiter counts them.
   * Two open limiters on one store with a prefix and a counter in common (a policy of one name,
   * kind and period) share those counters: each charges the other's budget. That is rarely meant
   * (two middlewares given one store, with policies of the default names), so it is said once,
   * with the fix.
   */
  private claimCounters(): void {
    const space = counterSpace(this.store)
    let claims = countersInUse.get(space)
    if (claims === undefined) {
      claims = new Map()
      countersInUse.set(space, claims)
    }
    const { prefix } = this.config
    const shared: string[] = []
    // Said once per counter and place: a module evaluated again (a development server's reload)
    // makes new limiters on a client it keeps, while those it made before stay open, unused.
    let warned = sharedWarned.get(space)
    if (warned === undefined) {
      warned = new Set()
      sharedWarned.set(space, warned)
    }
    const counters = new Map(this.config.allPolicies.map((p) => [counterName(p), p.name]))
    for (const [counter, name] of counters) {
      const claim = `${prefix}\0${counter}`
      const holders = claims.get(claim) ?? 0
      if (holders > 0 && !warned.has(claim)) {
        shared.push(name)
        if (warned.size >= MAX_SHARED_WARNED) warned.clear()
        warned.add(claim)
      }
      claims.set(claim, holders + 1)
      this.claimed.push(claim)
    }
    // A limiter dropped without close() (a development server's reload, one made per tenant) lets go
    // of its claims once collected: kept, they grew for good and warned of sharing with no one.
    droppedLimiters.register(this, { claims, claimed: this.claimed }, this)
    if (shared.length > 0) {
      const where = space === this.store ? 'store' : 'store, or another made from its client,'
      this.warnings.warn(
        WARNING_CODES.SHARED_COUNTERS,
        `Another open limiter on this ${this.store.name} ${where} already counts policy ${shared.map((n) => JSON.stringify(n)).join(', ')} under prefix ${JSON.stringify(prefix)}, so the two share those counters and each charges the other's budget. To keep them apart, give the policies names of their own (fixedWindow({ name: 'login', ... })) or the limiters a prefix each; to share one budget on purpose, pass one limiter (\`limiter:\`) to every middleware.`,
      )
    }
  }

  private releaseCounters(): void {
    const claims = countersInUse.get(counterSpace(this.store))
    if (claims !== undefined) release(claims, this.claimed)
    droppedLimiters.unregister(this)
    this.claimed = []
  }

  limit(identifier: string, options?: LimitOptions): Promise<Decision> {
    return this.decide(identifier, options, false, false) as Promise<Decision>
  }

  // `peek`, `reset` and `close` are own properties, bound: a wrapper made by spreading the limiter
  // (`{ ...limiter, limit }`, which the type allows) keeps them, as does `afterEach(limiter.reset)`
  // style code. `limit` stays a method: its call site is the hot path, and `decidingNow` knows it.
  readonly peek = (identifier: string, options?: LimitOptions): Promise<Decision> =>
    this.decide(identifier, options, true, false) as Promise<Decision>;

  /** `limit()` without the promise when the answer is known at once. */
  [DECIDE_NOW](identifier: string, options?: LimitOptions): Decision | Promise<Decision> {
    return this.decide(identifier, options, false, true)
  }

  readonly reset = async (identifier: string): Promise<void> => {
    this.assertOpen()
    const id = boundIdentifier(identifier)
    const { prefix, allPolicies } = this.config
    this.config.denyCache?.forget(id)
    try {
      await this.call(this.store.reset({ prefix, id, policies: allPolicies }))
    } catch (cause) {
      throw resetFailure(cause, `${this.store.name} store`, this.config)
    }
  }

  readonly close = async (): Promise<void> => {
    if (this.closed) return
    this.closed = true
    this.releaseCounters()
    if (this.ownsStore) await this.store.close()
  }

  // Not `async`: a local store answers synchronously, and resolving the decision directly saves
  // the extra promise and microtask an `await` of a plain value costs on every request.
  //
  // `now` false (limit, peek): always a promise, a bad argument rejects. `now` true (DECIDE_NOW): a
  // decision known at once is returned as it is, a bad argument throws. Each decision is wrapped
  // where it is built: a Promise.resolve shared by every path (a wrapper around this method) made
  // the memory store's hot-key decisions about 15 % slower in a process running several limiters.
  private decide(
    identifier: string,
    options: LimitOptions | undefined,
    peek: boolean,
    now: boolean,
  ): Decision | Promise<Decision> {
    let id: string
    let cost = 1
    let tier = this.defaultTier
    let policies = this.defaultPolicies
    try {
      this.assertOpen()
      id = boundIdentifier(identifier)
      if (options !== undefined && options !== null) {
        checkLimitOptions(options, peek ? 'peek' : 'limit')
        if (options.cost !== undefined) cost = checkCost(options.cost)
        tier = this.tierOf(options.tier)
        policies = this.tierPolicies.get(tier ?? '')!
      }
    } catch (error) {
      if (now) throw error
      return Promise.reject(error)
    }
    // Repeat offenders are answered locally until their retry time (never for peek or shadow).
    const denyCache = peek ? undefined : this.config.denyCache
    const cached = denyCache?.get(tier, id, cost)
    if (cached !== undefined) return now ? cached : Promise.resolve(cached)
    if (this.memory !== undefined) {
      if (policies.length === 1) return this.decideInMemory(this.memory, id, policies, tier, cost, peek, now)
      return this.decideSeveralInMemory(this.memory, id, policies, tier, cost, peek, now)
    }
    const sentAt = denyCache?.now() ?? 0
    if (this.submitting !== undefined) {
      return this.decideBySubmit(this.submitting, id, policies, tier, cost, peek, denyCache, sentAt)
    }
    let result: StoreResponse | Promise<StoreResponse>
    try {
      result = this.store.consume({ prefix: this.config.prefix, id, policies, cost, peek })
    } catch (error) {
      return this.failedAt(error, policies, tier, cost, now)
    }
    if (typeof (result as Partial<PromiseLike<StoreResponse>> | null | undefined)?.then === 'function') {
      return this.decideRemotely(
        result as PromiseLike<StoreResponse>,
        id,
        policies,
        tier,
        cost,
        denyCache,
        sentAt,
      )
    }
    let decision: Decision
    try {
      decision = this.decision(result as StoreResponse, policies, tier, cost)
    } catch (error) {
      return this.failedAt(error, policies, tier, cost, now)
    }
    // A store of your own that is not `local` may still answer at once.
    denyCache?.remember(tier, id, decision, sentAt)
    return now ? decision : Promise.resolve(decision)
  }

  /**
   * One policy on the memory store: the store writes its outcome straight into the PolicyDecision
   * returned, so a decision allocates only that, its array, the Decision and the promise. Gives
   * exactly what `consume` + `decision()` give (the store's `consume` runs the same code).
   */
  private decideInMemory(
    memory: MemoryFastPath,
    id: string,
    policies: readonly Policy[],
    tier: string | undefined,
    cost: number,
    peek: boolean,
    now: boolean,
  ): Decision | Promise<Decision> {
    const part = describePolicy(policies[0]!, UNDECIDED)
    let nowMs: number
    try {
      nowMs = memory.decideOne(this.config.prefix, policies, id, cost, peek, part)
    } catch (error) {
      return this.failedAt(error, policies, tier, cost, now)
    }
    let allowed = part.allowed
    let reason: Decision['reason'] = 'allowed'
    if (!allowed) {
      reason = part.retryAfterMs === Number.POSITIVE_INFINITY ? 'cost-exceeds-limit' : 'limited'
      if (this.config.shadow) {
        allowed = true
        reason = 'shadow-limited'
      }
    }
    const decision: Decision = {
      allowed,
      limit: part.limit,
      remaining: part.remaining,
      resetAtMs: part.resetAtMs,
      retryAfterMs: part.retryAfterMs,
      policy: part.name,
      tier,
      reason,
      cost,
      nowMs,
      policies: [part],
    }
    return now ? decision : Promise.resolve(decision)
  }

  /**
   * Several policies on the memory store: as {@link decideInMemory}, the store writes each policy's
   * outcome straight into the PolicyDecision returned, with none of the states, transitions and
   * outcome arrays that `consume` builds. Gives exactly what `consume` + `decision()` give.
   */
  private decideSeveralInMemory(
    memory: MemoryFastPath,
    id: string,
    policies: readonly Policy[],
    tier: string | undefined,
    cost: number,
    peek: boolean,
    now: boolean,
  ): Decision | Promise<Decision> {
    const parts: PolicyDecision[] = []
    for (const policy of policies) parts.push(describePolicy(policy, UNDECIDED))
    let nowMs: number
    try {
      nowMs = memory.decideSeveral(this.config.prefix, policies, id, cost, peek, parts)
    } catch (error) {
      return this.failedAt(error, policies, tier, cost, now)
    }
    const decision = this.decisionOf(parts, nowMs, tier, cost)
    return now ? decision : Promise.resolve(decision)
  }

  /**
   * Waits for a store's answer, or for the limiter's `timeout` (a non-local store only): one
   * promise per decision, settled by whichever comes first; the loser is ignored, and a store
   * rejecting after its deadline is still handled, so it never becomes an unhandled rejection.
   */
  private decideRemotely(
    result: PromiseLike<StoreResponse>,
    id: string,
    policies: readonly Policy[],
    tier: string | undefined,
    cost: number,
    denyCache: PublicMembers<DenyCache> | undefined,
    sentAt: number,
  ): Promise<Decision> {
    return new Promise<Decision>((resolve, reject) => {
      const call = new RemoteDecision(this, id, policies, tier, cost, denyCache, sentAt, resolve, reject)
      if (!this.store.local) this.deadlines.track(call)
      try {
        result.then(
          (response) => call.respondWith(response),
          (error: unknown) => call.fail(error),
        )
      } catch (error) {
        call.fail(error)
      }
    })
  }

  /**
   * A decision on a store with the SUBMIT path: the store answers the RemoteDecision itself,
   * which is also the deadline queue's entry, so a decision costs one promise and one object and
   * no promise of the store's. The Redis and Upstash fault tests run this path;
   * limiter-store-failure.test.ts runs `decideRemotely`, which settles through the same object.
   */
  private decideBySubmit(
    store: SubmittingStore,
    id: string,
    policies: readonly Policy[],
    tier: string | undefined,
    cost: number,
    peek: boolean,
    denyCache: PublicMembers<DenyCache> | undefined,
    sentAt: number,
  ): Promise<Decision> {
    return new Promise<Decision>((resolve, reject) => {
      const call = new RemoteDecision(this, id, policies, tier, cost, denyCache, sentAt, resolve, reject)
      // Tracked first: the store reads the call's deadline when it sends it, which may be at once.
      this.deadlines.track(call)
      try {
        store[SUBMIT](this.config.prefix, id, policies, cost, peek, call)
      } catch (error) {
        call.fail(error)
      }
    })
  }

  /** @internal The store failure a timed-out call answers with. */
  timeoutError(): FloodgateError {
    return new FloodgateError(
      ERROR_CODES.STORE_TIMEOUT,
      `The ${this.store.name} store did not answer within ${this.config.timeoutMs} ms.`,
    )
  }

  private call<T>(result: T | PromiseLike<T>): T | Promise<T> {
    // Any thenable, as `decide` takes one: a client's Bluebird promise gets the deadline too.
    if (
      this.store.local ||
      typeof (result as Partial<PromiseLike<T>> | null | undefined)?.then !== 'function'
    ) {
      return result as T
    }
    return withDeadline(Promise.resolve(result), this.config.timeoutMs, `The ${this.store.name} store`)
  }

  /** @internal */
  decision(
    response: StoreResponse,
    policies: readonly Policy[],
    tier: string | undefined,
    cost: number,
  ): Decision {
    checkResponse(response, policies.length, this.store.name)
    const { outcomes } = response
    const parts: PolicyDecision[] = []
    for (let i = 0; i < policies.length; i++) parts.push(describePolicy(policies[i]!, outcomes[i]!))
    this.outage.answered()
    return this.decisionOf(parts, response.nowMs, tier, cost)
  }

  /**
   * @internal The decision of a script store's flat reply (see `readOutcome`), read straight into
   * the PolicyDecisions it returns.
   */
  decisionOfReply(
    reply: readonly unknown[],
    at: number,
    nowMs: number,
    policies: readonly Policy[],
    tier: string | undefined,
    cost: number,
  ): Decision {
    const parts: PolicyDecision[] = []
    for (let i = 0; i < policies.length; i++) {
      const part = describePolicy(policies[i]!, UNDECIDED)
      readOutcome(reply, at + 4 * i, nowMs, part)
      parts.push(part)
    }
    this.outage.answered()
    return this.decisionOf(parts, nowMs, tier, cost)
  }

  /** The decision of every policy's part: the binding one's figures, and why. */
  private decisionOf(
    parts: PolicyDecision[],
    nowMs: number,
    tier: string | undefined,
    cost: number,
  ): Decision {
    const b = bindingIndex(parts)
    const binding = parts[b]!
    let neverAdmissible = false
    for (const part of parts) {
      if (!part.allowed && part.retryAfterMs === Number.POSITIVE_INFINITY) neverAdmissible = true
    }
    let allowed = binding.allowed
    let reason: Decision['reason'] = 'allowed'
    if (!allowed) {
      reason = neverAdmissible ? 'cost-exceeds-limit' : 'limited'
      if (this.config.shadow) {
        allowed = true
        reason = 'shadow-limited'
      }
    }
    return {
      allowed,
      limit: binding.limit,
      remaining: binding.remaining,
      resetAtMs: binding.resetAtMs,
      retryAfterMs: binding.retryAfterMs,
      policy: binding.name,
      tier,
      reason,
      cost,
      nowMs,
      policies: parts,
    }
  }

  /** A store that threw while deciding: its failure decision, as `now` asks (see `decide`). */
  private failedAt(
    cause: unknown,
    policies: readonly Policy[],
    tier: string | undefined,
    cost: number,
    now: boolean,
  ): Decision | Promise<Decision> {
    const failure = this.storeFailure(cause, policies, tier, cost)
    return now ? failure : Promise.resolve(failure)
  }

  /** @internal */
  storeFailure(
    cause: unknown,
    policies: readonly Policy[],
    tier: string | undefined,
    cost: number,
  ): Decision {
    return this.outage.failed(cause, { policy: policies[0]!.name, tier, cost })
  }

  private tierOf(requested: string | undefined): string | undefined {
    const { defaultTier, tiers } = this.config
    if (defaultTier === undefined) {
      if (requested !== undefined) {
        warnNoTiers(
          this.warnings,
          requested,
          'this limiter has no tiers: its policies apply to every request. Give it `tiers` and `defaultTier`, or pass no tier.',
        )
      }
      return undefined
    }
    if (requested === undefined) return defaultTier
    if (typeof requested === 'string' && tiers.has(requested)) return requested
    warnUnknownTier(this.warnings, requested, tiers, defaultTier)
    return defaultTier
  }

  private assertOpen(): void {
    if (this.closed) throw closedError() // the error out of line, as WindowSlot.advance explains
  }
}

/**
 * One decision waiting on a store's SUBMIT path: answered by the store (`respond`, `fail`) or by the
 * limiter's deadline (`expire`), whichever comes first; the others are then ignored.
 */
class RemoteDecision implements QueuedCall, PendingCall {
  settled = false
  atMs = 0

  constructor(
    private readonly limiter: Limiter,
    private readonly id: string,
    private readonly policies: readonly Policy[],
    private readonly tier: string | undefined,
    private readonly cost: number,
    private readonly denyCache: PublicMembers<DenyCache> | undefined,
    private readonly sentAt: number,
    private readonly resolve: (decision: Decision) => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  /** The answer of a store's SUBMIT path: the script's flat reply. */
  respond(reply: readonly unknown[], at: number, nowMs: number): void {
    if (this.settled) return
    this.settled = true
    try {
      this.answer(this.limiter.decisionOfReply(reply, at, nowMs, this.policies, this.tier, this.cost))
    } catch (error) {
      this.answerFailure(error)
    }
  }

  /** The answer of a store's `consume`. */
  respondWith(response: StoreResponse): void {
    if (this.settled) return
    this.settled = true
    try {
      this.answer(this.limiter.decision(response, this.policies, this.tier, this.cost))
    } catch (error) {
      this.answerFailure(error)
    }
  }

  private answer(decision: Decision): void {
    this.denyCache?.remember(this.tier, this.id, decision, this.sentAt)
    this.resolve(decision)
  }

  fail(error: unknown): void {
    if (this.settled) return
    this.settled = true
    this.answerFailure(error)
  }

  expire(): void {
    // The deadline queue set `settled` already.
    this.answerFailure(this.limiter.timeoutError())
  }

  private answerFailure(error: unknown): void {
    try {
      this.resolve(this.limiter.storeFailure(error, this.policies, this.tier, this.cost))
    } catch (failure) {
      this.reject(failure)
    }
  }
}

/** Placeholder outcome of a PolicyDecision the memory store is about to fill in. */
const UNDECIDED: PolicyOutcome = { allowed: false, remaining: 0, resetAtMs: 0, retryAfterMs: 0 }

function closedError(): FloodgateError {
  return new FloodgateError(
    ERROR_CODES.CLOSED,
    'This rate limiter was closed; create a new one to keep limiting.',
  )
}

function checkCost(cost: unknown): number {
  if (typeof cost !== 'number' || !Number.isSafeInteger(cost) || cost < 1) {
    throw new FloodgateError(
      ERROR_CODES.INVALID_COST,
      `Invalid cost: got ${describeValue(cost)}; expected a whole number of at least 1.`,
      { option: 'cost', value: cost },
    )
  }
  return cost
}

/**
 * Checks a store's `consume` answer before any of it is used: one outcome per policy, each with a
 * boolean `allowed`, a whole `remaining` and finite, non-negative times. A store answering anything else has
 * failed (a custom store's bug, a proxy's garbage): the request follows `onStoreError`, as for any
 * store failure, and is never answered with headers made of `undefined` or `NaN`.
 */
function checkResponse(response: unknown, policyCount: number, storeName: string): void {
  const problem = responseProblem(response as Partial<StoreResponse> | null | undefined, policyCount)
  if (problem === undefined) return
  throw new FloodgateError(
    ERROR_CODES.STORE_ERROR,
    `The ${storeName} store answered with an invalid response: ${problem}. A store's consume() must resolve with { nowMs, outcomes } and one outcome per policy (see docs/stores.md).`,
  )
}

function responseProblem(
  response: Partial<StoreResponse> | null | undefined,
  policyCount: number,
): string | undefined {
  if (typeof response !== 'object' || response === null) return `got ${describeValue(response)}`
  if (!isTime(response.nowMs)) return `nowMs is ${describeValue(response.nowMs)}`
  const { outcomes } = response
  if (!Array.isArray(outcomes) || outcomes.length !== policyCount) {
    return `expected ${policyCount} outcome(s), got ${Array.isArray(outcomes) ? outcomes.length : describeValue(outcomes)}`
  }
  for (let i = 0; i < outcomes.length; i++) {
    const o = outcomes[i] as Partial<PolicyOutcome> | null | undefined
    if (typeof o !== 'object' || o === null) return `outcomes[${i}] is ${describeValue(o)}`
    if (typeof o.allowed !== 'boolean') return `outcomes[${i}].allowed is ${describeValue(o.allowed)}`
    const { remaining, resetAtMs, retryAfterMs } = o
    if (!(Number.isSafeInteger(remaining) && (remaining as number) >= 0)) {
      return `outcomes[${i}].remaining is ${describeValue(remaining)}`
    }
    if (!isTime(resetAtMs)) return `outcomes[${i}].resetAtMs is ${describeValue(resetAtMs)}`
    if (!(isTime(retryAfterMs) || retryAfterMs === Number.POSITIVE_INFINITY)) {
      return `outcomes[${i}].retryAfterMs is ${describeValue(retryAfterMs)}`
    }
  }
  return undefined
}

/** A finite number of milliseconds, at least 0 (a store's clock may give fractions). */
function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0
}

/** The options `limit()` and `peek()` take. */
const LIMIT_OPTIONS = ['cost', 'tier'] as const

/** rate-limiter-flexible's `consume(key, points)`, written as an option. */
const LIMIT_HINTS: Readonly<Record<string, string>> = Object.freeze(
  peerHints({ points: 'The units a request takes are `cost`: `limit(id, { cost: 5 })`.' }),
)

/**
 * Refuses `limit()` options that are no object (`limit(id, 5)`), or that give neither `cost` nor
 * `tier` but something else (`{ points: 5 }`): either would have charged a cost of 1. Names are
 * checked only when neither is given, so the common calls pay nothing for it.
 */
export function checkLimitOptions(options: object, where: 'limit' | 'peek'): void {
  if (typeof options !== 'object') notOptions(options, where)
  const { cost, tier } = options as LimitOptions
  if (cost === undefined && tier === undefined) {
    // An array, a Map, a boxed number, an object inheriting its options: none of them gives any.
    const proto: unknown = Object.getPrototypeOf(options)
    if (proto !== Object.prototype && proto !== null) notOptions(options, where)
    rejectUnknownOptions(options, LIMIT_OPTIONS, `${where}()`, LIMIT_HINTS)
  }
}

function notOptions(options: unknown, where: 'limit' | 'peek'): never {
  return invalidOption(
    `${where}(id, options)`,
    options,
    `an options object, \`{ cost, tier }\`: \`${where}(id, { cost: 5 })\``,
  )
}

/**
 * Says once per name that a requested tier is not configured, so `defaultTier` applies: an unknown
 * tier is never unlimited.
 */
export function warnUnknownTier(
  warnings: Warnings,
  requested: unknown,
  tiers: ReadonlyMap<string, unknown>,
  defaultTier: string,
): void {
  warnings.warn(
    WARNING_CODES.UNKNOWN_TIER,
    () =>
      `Tier ${describeValue(requested)} is not configured (tiers: ${[...tiers.keys()].join(', ')}); the default tier "${defaultTier}" applies.`,
    Number.POSITIVE_INFINITY,
    // Each name once; a long one (it may come from the request) by its start and length, which
    // costs nothing per request.
    `unknown-tier:${typeof requested !== 'string' ? describeValue(requested) : requested.length <= 64 ? requested : `${requested.slice(0, 64)}…${requested.length}`}`,
  )
}

/** The warnings of limiters told that they have no tiers: told once, and nothing built after. */
const toldNoTiers = new WeakSet<Warnings>()

/** Says once that a tier was asked of a limiter that has none; `why` says what applies instead. */
export function warnNoTiers(warnings: Warnings, requested: unknown, why: string): void {
  if (toldNoTiers.has(warnings)) return
  toldNoTiers.add(warnings)
  warnings.warn(
    WARNING_CODES.UNKNOWN_TIER,
    `Tier ${describeValue(requested)} was asked for, but ${why}`,
    Number.POSITIVE_INFINITY,
    'no-tiers',
  )
}
