import type { Decision } from './decision.js'
import { invalidOption } from './errors.js'
import { rejectUnknownOptions, requireObject } from './policies/common.js'

/** Options of the limiter's `denyCache`. */
export interface DenyCacheOptions {
  /** Most identifiers remembered at once; the oldest is dropped first. Default 10,000. */
  maxEntries?: number
  /** A monotonic clock in ms, for tests. Default `performance.now`. */
  clock?: () => number
}

export const DEFAULT_DENY_CACHE_ENTRIES = 10_000
const OPTIONS = ['maxEntries', 'clock'] as const

interface Entry {
  /** Local monotonic ms before which the store is certain to deny this cost again. */
  deadline: number
  /** The cost denied: the one answered from here (another cost waits a different time). */
  cost: number
  /** Local ms at which the store's `decision.nowMs` was (at the latest) read. */
  sentAt: number
  id: string
  decision: Decision
}

/**
 * Remembers recent denials so a repeat offender is answered without a store round trip.
 *
 * Never longer than the store would deny: the deadline is `retryAfterMs` counted from the moment
 * the request was SENT (the store decided after that), on a local monotonic clock, so neither
 * network latency nor a skew between this process's and Redis's clocks can stretch it. A later
 * request with the same cost is denied until then whatever else arrives, since every policy only
 * admits fewer units as others spend. Another cost goes to the store: a smaller one may pass sooner,
 * and a larger one waits longer, perhaps on another policy, which only the store can say.
 *
 * A denial sent before a `reset()` in this process is not remembered when it comes back after it.
 * Bounded (oldest evicted first), no timers. A `reset()` in another process is not seen here: this
 * process keeps denying that identifier until its deadline at most.
 */
export class DenyCache {
  private readonly entries = new Map<string, Entry>()
  /** Local ms of each identifier's last `forget` (a reset): its denials sent before are not kept. */
  private readonly forgottenAt = new Map<string, number>()
  readonly maxEntries: number
  readonly now: () => number

  constructor(maxEntries = DEFAULT_DENY_CACHE_ENTRIES, now: () => number = () => performance.now()) {
    this.maxEntries = maxEntries
    this.now = now
  }

  get size(): number {
    return this.entries.size
  }

  /** The denial to answer with, or undefined to ask the store. */
  get(tier: string | undefined, id: string, cost: number): Decision | undefined {
    const key = keyOf(tier, id)
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    const now = this.now()
    if (now >= entry.deadline) {
      this.entries.delete(key)
      return undefined
    }
    if (cost !== entry.cost) return undefined
    const elapsedMs = Math.max(0, Math.ceil(now - entry.sentAt))
    const retryAfterMs = Math.max(1, Math.ceil(entry.deadline - now))
    const { decision } = entry
    return {
      ...decision,
      cost,
      nowMs: decision.nowMs + elapsedMs,
      retryAfterMs,
      policies: decision.policies.map((p) =>
        p.allowed ? { ...p } : { ...p, retryAfterMs: Math.max(1, p.retryAfterMs - elapsedMs) },
      ),
    }
  }

  /** Records a `limited` decision taken by the store for a request sent at local time `sentAt`. */
  remember(tier: string | undefined, id: string, decision: Decision, sentAt: number): void {
    if (decision.reason !== 'limited' || !Number.isFinite(decision.retryAfterMs)) return
    if (decision.retryAfterMs <= 0 || this.maxEntries <= 0) return
    // Sent before a reset, decided perhaps before it too: the store may admit this identifier now.
    const forgottenAt = this.forgottenAt.get(id)
    if (forgottenAt !== undefined && sentAt <= forgottenAt) return
    const key = keyOf(tier, id)
    this.entries.delete(key)
    const deadline = sentAt + decision.retryAfterMs
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value as string
      this.entries.delete(oldest)
    }
    this.entries.set(key, { deadline, cost: decision.cost, sentAt, id, decision })
  }

  /** Forgets an identifier in every tier (after `limiter.reset`). */
  forget(id: string): void {
    // Bounded like the entries; a denial in flight across a clear may be kept (until its deadline).
    if (this.forgottenAt.size >= this.maxEntries) this.forgottenAt.clear()
    this.forgottenAt.set(id, this.now())
    for (const [key, entry] of this.entries) if (entry.id === id) this.entries.delete(key)
  }

  clear(): void {
    this.entries.clear()
  }
}

/** Unambiguous: the tier's length comes first, so no (tier, id) pair spells another. */
function keyOf(tier: string | undefined, id: string): string {
  return tier === undefined ? `\0${id}` : `${tier.length}:${tier}\0${id}`
}

/**
 * Resolves the limiter's `denyCache` option: undefined means on for a remote store and off for a
 * local one (a memory lookup is as cheap as the cache).
 */
export function resolveDenyCache(value: unknown, storeIsLocal: boolean): DenyCache | undefined {
  if (value === undefined) return storeIsLocal ? undefined : new DenyCache()
  if (value === false) return undefined
  if (value === true) return new DenyCache()
  const o = requireObject(value, 'denyCache')
  rejectUnknownOptions(o, OPTIONS, 'denyCache')
  const maxEntries = o.maxEntries ?? DEFAULT_DENY_CACHE_ENTRIES
  if (typeof maxEntries !== 'number' || !Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    invalidOption('denyCache.maxEntries', maxEntries, 'a whole number of at least 1')
  }
  if (o.clock !== undefined && typeof o.clock !== 'function') {
    invalidOption('denyCache.clock', o.clock, 'a function returning monotonic milliseconds')
  }
  return new DenyCache(maxEntries, o.clock as (() => number) | undefined)
}
