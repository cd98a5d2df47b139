import type { Decision } from './decision.js'
import { invalidOption } from './errors.js'
import { rejectUnknownOptions, requireObject } from './policies/common.js'
import type { Policy } from './policies/types.js'

/** Options of the limiter's `denyCache`. */
export interface DenyCacheOptions {
  /** Most identifiers remembered at once; the oldest is dropped first. Default 10,000. */
  maxEntries?: number | undefined
  /** A monotonic clock in ms, for tests. Default `performance.now`. */
  clock?: (() => number) | undefined
}

export const DEFAULT_DENY_CACHE_ENTRIES = 10_000
const OPTIONS = ['maxEntries', 'clock'] as const

interface Entry {
  /** Local monotonic ms until which this entry answers: the earliest instant its decision changes. */
  deadline: number
  /** The same deadline on the wall clock, with the default clock: whichever comes first ends it. */
  wallDeadline: number
  /** Local monotonic ms before which the store is certain to deny this cost again. */
  retryAt: number
  /** The tier and cost denied: the ones answered from here (others wait a different time). */
  tier: string | undefined
  cost: number
  /** Local ms at which the store's `decision.nowMs` was (at the latest) read. */
  sentAt: number
  decision: Decision
}

/**
 * Remembers recent denials so a repeat offender is answered without a store round trip.
 *
 * Never longer than the store would deny: the retry time is `retryAfterMs` counted from the moment
 * the request was SENT (the store decided after that), on a local monotonic clock, so neither
 * network latency nor a skew between this process's and Redis's clocks can stretch it. A later
 * request with the same tier and cost is denied until then whatever else arrives, since every
 * policy only admits fewer units as others spend; except a token bucket whose capacity or refill
 * rate differs between tiers (a charge under one tier can bring forward the instant it is full
 * under another), so a limiter's tiers holding such a bucket are never answered from here (see
 * {@link tiersUnsafeToCache}). Another cost goes to the store: a smaller one may pass sooner, and a
 * larger one waits longer, perhaps on another policy, which only the store can say.
 *
 * An entry answers only until the first instant its decision would read differently: the end of
 * the wait of each denying policy, the instant each admitting policy is whole again (a token
 * bucket's or sliding window's `remaining` grows with time before that, and is answered as the
 * store last gave it). A request of this process admitted for the identifier drops its entries
 * (the waits they recorded may have grown); so does a `reset()`, and a denial sent before the
 * reset that comes back after it is not remembered. Bounded (oldest identifier evicted first), no
 * timers. A charge or a `reset()` in another process is not seen here: this process keeps denying
 * that identifier until its retry time at most, and may give a shorter Retry-After than the store
 * would by then.
 */
/** How much earlier than the store's retry time an entry stops answering (see `remember`). */
const TIMER_SLACK_MS = 1

export class DenyCache {
  /** Per identifier, its last denial in each tier it was denied in (one, without tiers). */
  private readonly entries = new Map<string, Entry[]>()
  /** Local ms of each identifier's last `forget` (a reset): its denials sent before are not kept. */
  private readonly forgottenAt = new Map<string, number>()
  /** Where `dropOldest` goes on from. */
  private oldest: Iterator<string> | undefined
  /** Deletions since `oldest` started, other than its own (see `deleted`). */
  private deletions = 0
  readonly maxEntries: number
  readonly now: () => number
  /**
   * The wall clock, beside the default monotonic one: a virtual machine paused or restored from a
   * snapshot (a serverless function's) may stop the monotonic clock while time, and the store's
   * clock, go on; an entry then answered for the whole wait again after the thaw. Unset when a
   * clock was given (tests), which alone then says.
   */
  private readonly wall: (() => number) | undefined
  private readonly unsafeTiers: ReadonlySet<string>

  constructor(
    maxEntries = DEFAULT_DENY_CACHE_ENTRIES,
    now?: () => number,
    unsafeTiers: ReadonlySet<string> = new Set(),
  ) {
    this.maxEntries = maxEntries
    this.now = now ?? (() => performance.now())
    this.wall = now === undefined ? Date.now : undefined
    this.unsafeTiers = unsafeTiers
  }

  /** Identifiers remembered. */
  get size(): number {
    return this.entries.size
  }

  /** The denial to answer with, or undefined to ask the store. */
  get(tier: string | undefined, id: string, cost: number): Decision | undefined {
    const list = this.entries.get(id)
    if (list === undefined) return undefined
    const at = indexOfTier(list, tier)
    if (at < 0) return undefined
    const entry = list[at]!
    const now = this.now()
    if (now >= entry.deadline || (this.wall !== undefined && this.wall() >= entry.wallDeadline)) {
      if (list.length === 1) this.drop(id)
      else list.splice(at, 1)
      return undefined
    }
    if (cost !== entry.cost) return undefined
    // Waits are rounded up and the store's time down, alike for the answer and each policy: the
    // store's clock has moved on by at most `elapsed` since it decided, so no wait is understated,
    // and `nowMs + retryAfterMs` stays the instant the store gave.
    const elapsed = Math.max(0, now - entry.sentAt)
    const retryAfterMs = Math.max(1, Math.ceil(entry.retryAt - now))
    const { decision } = entry
    const nowMs = decision.nowMs + Math.floor(elapsed)
    return {
      ...decision,
      cost,
      nowMs,
      retryAfterMs,
      policies: decision.policies.map((p) =>
        p.allowed
          ? { ...p, resetAtMs: Math.max(p.resetAtMs, nowMs) }
          : { ...p, retryAfterMs: Math.max(1, Math.ceil(p.retryAfterMs - elapsed)) },
      ),
    }
  }

  /**
   * Records the store's decision on a request sent at local time `sentAt`: a `limited` one is
   * remembered; an admitted one drops the identifier's entries, since the waits they recorded may be
   * longer now.
   */
  remember(tier: string | undefined, id: string, decision: Decision, sentAt: number): void {
    if (decision.reason !== 'limited') {
      if (decision.reason === 'allowed' && this.entries.size > 0) this.drop(id)
      return
    }
    if (!Number.isFinite(decision.retryAfterMs) || decision.retryAfterMs <= 0 || this.maxEntries <= 0) return
    if (this.unsafeTiers.has(tier ?? '')) return
    // Sent before a reset, decided perhaps before it too: the store may admit this identifier now.
    const forgottenAt = this.forgottenAt.get(id)
    if (forgottenAt !== undefined && sentAt <= forgottenAt) return
    let lifeMs = decision.retryAfterMs
    for (const p of decision.policies) {
      const changesInMs = p.allowed ? p.resetAtMs - decision.nowMs : p.retryAfterMs
      if (changesInMs > 0 && changesInMs < lifeMs) lifeMs = changesInMs
    }
    // The wall-clock instant of `sentAt`: now on the wall clock, less the time since on this one.
    const wallSentAt = this.wall === undefined ? 0 : this.wall() - (this.now() - sentAt)
    const entry: Entry = {
      // A millisecond short: a caller's `setTimeout(retryAfterMs)` counts from the event loop's
      // whole-millisecond time, so it may fire up to 1 ms before `sentAt + retryAfterMs` on this
      // clock, when the store would admit; from then on the store answers.
      deadline: sentAt + lifeMs - TIMER_SLACK_MS,
      wallDeadline: wallSentAt + lifeMs - TIMER_SLACK_MS,
      retryAt: sentAt + decision.retryAfterMs,
      tier,
      cost: decision.cost,
      sentAt,
      decision,
    }
    // Most recent last: the identifier moves to the end, as the newest.
    const list = this.entries.get(id)
    this.entries.delete(id)
    if (list !== undefined) {
      this.deleted()
      const at = indexOfTier(list, tier)
      if (at >= 0) list[at] = entry
      else list.push(entry)
      this.entries.set(id, list)
      return
    }
    while (this.entries.size >= this.maxEntries) this.dropOldest()
    this.entries.set(id, [entry])
  }

  /**
   * Drops the oldest identifier. One iterator, resumed from drop to drop: a fresh one would step
   * over every entry deleted since the table was last rebuilt (V8 keeps them as holes), which made
   * each drop cost O(maxEntries) under a flood of denied identifiers (the memory store's `Scan`
   * resumes its iterator for the same reason). Every entry before its position was dropped by it,
   * and one moved to the end (`remember`) is met again there, so it always finds the oldest.
   */
  private dropOldest(): void {
    let step = this.oldest?.next()
    if (step === undefined || step.done === true) {
      this.oldest = this.entries.keys()
      this.deletions = 0
      step = this.oldest.next()
    }
    if (step.done !== true) this.entries.delete(step.value)
  }

  /** Forgets an identifier in every tier (after `limiter.reset`). */
  forget(id: string): void {
    // Bounded like the entries; a denial in flight across a clear may be kept (until its deadline).
    if (this.forgottenAt.size >= this.maxEntries) this.forgottenAt.clear()
    this.forgottenAt.set(id, this.now())
    this.drop(id)
  }

  /** Deletes an identifier's entries (see `deleted`). */
  private drop(id: string): void {
    this.entries.delete(id)
    this.deleted()
  }

  /**
   * Counts a deletion made elsewhere than `dropOldest`; after `maxEntries` of them its iterator is
   * let go. The iterator holds the table it started on, and V8 links each table it rebuilds (as
   * deletions pile up, a repeat offender's entry moving to the end among them) to the next: held
   * for ever, the chain grew without bound under a cache that stays nearly full. A new iterator
   * starts where the oldest entry is, so dropping it costs one walk over the holes per
   * `maxEntries` deletions.
   */
  private deleted(): void {
    if (this.oldest !== undefined && ++this.deletions >= this.maxEntries) {
      this.oldest = undefined
      this.deletions = 0
    }
  }

  clear(): void {
    this.entries.clear()
    this.oldest = undefined
  }
}

function indexOfTier(list: readonly Entry[], tier: string | undefined): number {
  for (let i = 0; i < list.length; i++) if (list[i]!.tier === tier) return i
  return -1
}

/**
 * The tiers whose denials the deny cache must not answer: those holding a token bucket that
 * another tier gives another capacity or refill rate. A charge under the other tier can make the
 * shared bucket full sooner than this tier's denial said (a full bucket reads as full under any
 * capacity), so only the store knows when it admits again.
 */
export function tiersUnsafeToCache(tiers: ReadonlyMap<string, readonly Policy[]>): ReadonlySet<string> {
  const shapes = new Map<string, Set<string>>()
  for (const policies of tiers.values()) {
    for (const p of policies) {
      if (p.kind !== 'token-bucket') continue
      const seen = shapes.get(p.name) ?? new Set<string>()
      seen.add(`${p.capacity}/${p.refillRate}`)
      shapes.set(p.name, seen)
    }
  }
  const unsafe = new Set<string>()
  for (const [tier, policies] of tiers) {
    for (const p of policies) if ((shapes.get(p.name)?.size ?? 0) > 1) unsafe.add(tier)
  }
  return unsafe
}

/**
 * Resolves the limiter's `denyCache` option: undefined means on for a remote store and off for a
 * local one (a memory lookup is as cheap as the cache).
 */
export function resolveDenyCache(
  value: unknown,
  storeIsLocal: boolean,
  unsafeTiers: ReadonlySet<string> = new Set(),
): DenyCache | undefined {
  if (value === undefined) return storeIsLocal ? undefined : new DenyCache(undefined, undefined, unsafeTiers)
  if (value === false) return undefined
  if (value === true) return new DenyCache(undefined, undefined, unsafeTiers)
  const o = requireObject(value, 'denyCache')
  rejectUnknownOptions(o, OPTIONS, 'denyCache')
  // `undefined` takes the default; `null` is checked like any other value (nothing replaced silently).
  const maxEntries = o.maxEntries === undefined ? DEFAULT_DENY_CACHE_ENTRIES : o.maxEntries
  if (typeof maxEntries !== 'number' || !Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    invalidOption('denyCache.maxEntries', maxEntries, 'a whole number of at least 1')
  }
  if (o.clock !== undefined && typeof o.clock !== 'function') {
    invalidOption('denyCache.clock', o.clock, 'a function returning monotonic milliseconds')
  }
  return new DenyCache(maxEntries, o.clock as (() => number) | undefined, unsafeTiers)
}
