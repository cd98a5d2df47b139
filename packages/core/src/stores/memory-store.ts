import * as perfHooks from 'node:perf_hooks'
import { ERROR_CODES, FloodgateError, invalidOption } from '../errors.js'
import { counterName } from '../keys.js'
import { rejectUnknownOptions, requireObject } from '../policies/common.js'
import type { Policy, PolicyOutcome } from '../policies/types.js'
import type { RateLimitStore, StoreRequest, StoreResetRequest, StoreResponse } from '../store.js'
import { checkClock, epochMs } from '../store-clock.js'
import { createSlot, type KeyCounter, type Slot } from './memory-slots.js'

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most keys held at once (one key per identifier and policy). When full, a new key replaces a key
   * that is not currently limited, the oldest first: of the request's own counters (prefix and
   * policy), then of the others. Limited keys are never evicted. Default 1,000,000.
   */
  maxKeys?: number | undefined
  /** Returns epoch ms. Default: a monotonic clock anchored at the process's start time. */
  clock?: (() => number) | undefined
}

/** The in-process store, with introspection for tests and monitoring. */
export interface MemoryStore extends RateLimitStore {
  readonly name: 'memory'
  /** Keys held now, after freeing every window that has passed. */
  readonly size: number
  /** The `maxKeys` option: most keys held at once. */
  readonly maxKeys: number
  /**
   * Keys looked at by eviction and sweeping since the store was created: for tests and monitoring
   * (each call looks at a bounded number, never the whole map).
   */
  readonly examined: number
  /**
   * Keys passed again when an eviction or sweep scan started over from the first key of a map (the
   * map's size each time; at most about once per pass over the keys).
   */
  readonly rescanned: number
}

const OPTIONS = ['maxKeys', 'clock'] as const
/** Keys examined per call to free expired token buckets: amortised O(1), never a full scan. */
const SWEEP_PER_CALL = 4
/** Keys examined, at most, to make room for one new key when the store is full. */
const EVICTION_BUDGET = 64

/**
 * Counters in this process's memory: the default store. Bounded by `maxKeys`, freed by window
 * generations and amortised sweeping, with no timers (it never keeps the process alive).
 *
 * Its clock never runs backward: a clock reading earlier than one already seen is taken as that
 * one, so a wall-clock step back can neither re-open a window nor refill a bucket.
 */
export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const o = requireObject(options, 'memoryStore(options)')
  rejectUnknownOptions(o, OPTIONS, 'memoryStore()')
  const maxKeys = o.maxKeys === undefined ? 1_000_000 : o.maxKeys
  if (typeof maxKeys !== 'number' || !Number.isSafeInteger(maxKeys) || maxKeys < 1) {
    invalidOption('memoryStore.maxKeys', maxKeys, 'a whole number of at least 1')
  }
  const clock = checkClock(o.clock, 'memoryStore.clock')
  return new MemoryStoreImpl(maxKeys, clock === undefined ? processClock : () => epochMs(clock(), 'memory'))
}

function closedStore(): FloodgateError {
  return new FloodgateError(
    ERROR_CODES.STORE_ERROR,
    'The memory store was closed, and its counts with it. Close a store only once no limiter uses it (a limiter that made its own store closes it with close()).',
  )
}

// From `node:perf_hooks`, not the global: fake timers replace the global `performance` (also before
// this module loads, from a test's setup file), and a store that kept their object would follow
// them, then stand still for good once they are uninstalled. Read once, not on every decision.
const perf = perfHooks.performance
const origin = perf.timeOrigin
/** Epoch ms that cannot jump: the process start time plus monotonic elapsed time. */
function processClock(): number {
  return Math.floor(origin + perf.now())
}

/**
 * The limiter's allocation-free path into a memory store it recognises (third-party stores keep the
 * plain `consume` contract). Not part of the public API.
 */
export interface MemoryFastPath {
  /**
   * Decides one single-policy request exactly as `consume` does, writing the policy's outcome into
   * `out` instead of allocating a response. Returns the store's clock at the decision.
   */
  decideOne(
    prefix: string,
    policies: readonly Policy[],
    id: string,
    cost: number,
    peek: boolean,
    out: PolicyOutcome,
  ): number
  /**
   * Decides a request of several policies exactly as `consume` does (all or nothing), writing each
   * policy's outcome into `outs` (one per policy, in order). Returns the store's clock at the decision.
   */
  decideSeveral(
    prefix: string,
    policies: readonly Policy[],
    id: string,
    cost: number,
    peek: boolean,
    outs: readonly PolicyOutcome[],
  ): number
}

/** The fast path of a store made by {@link memoryStore}; undefined for any other store. */
export function memoryFastPath(store: RateLimitStore): MemoryFastPath | undefined {
  return store instanceof MemoryStoreImpl ? store : undefined
}

class MemoryStoreImpl implements MemoryStore, MemoryFastPath {
  readonly name = 'memory'
  readonly local = true
  private readonly keys: KeyCounter = { size: 0, examined: 0, rescanned: 0 }
  private readonly slots = new Map<string, Slot>()
  private readonly slotList: Slot[] = []
  private cached = new WeakMap<Policy, { prefix: string; slot: Slot }>()
  private maintenance = 0
  private closed = false
  private lastNowMs = Number.NEGATIVE_INFINITY
  /** The answer to a new identifier while every key examined is limited (see makeRoom). */
  private fullError: FloodgateError | undefined
  private lastPolicies: readonly Policy[] | undefined
  private lastPrefix = ''
  private lastSlots: readonly Slot[] = []
  /** What `decideSeveral` commits per policy; reused, as nothing runs between its decide and commit. */
  private readonly values: number[] = []

  constructor(
    readonly maxKeys: number,
    private readonly clock: () => number,
  ) {}

  get size(): number {
    const now = this.now()
    for (const slot of this.slotList) slot.advance(now)
    return this.keys.size
  }

  get examined(): number {
    return this.keys.examined
  }

  get rescanned(): number {
    return this.keys.rescanned
  }

  consume(request: StoreRequest): StoreResponse {
    const { policies, id, cost } = request
    // The limiter's own paths, with outcomes of the response's own. The conformance kit holds
    // both to the reference (`evaluatePolicies`).
    const outcomes: PolicyOutcome[] = []
    for (let i = 0; i < policies.length; i++) {
      outcomes.push({ allowed: false, remaining: 0, resetAtMs: 0, retryAfterMs: 0 })
    }
    const nowMs =
      policies.length === 1
        ? this.decideOne(request.prefix, policies, id, cost, request.peek, outcomes[0]!)
        : this.decideSeveral(request.prefix, policies, id, cost, request.peek, outcomes)
    return { nowMs, outcomes }
  }

  decideOne(
    prefix: string,
    policies: readonly Policy[],
    id: string,
    cost: number,
    peek: boolean,
    out: PolicyOutcome,
  ): number {
    const nowMs = this.now()
    const slots = this.slotsFor(prefix, policies)
    const slot = slots[0]!
    slot.advance(nowMs)
    // Before deciding, so a sweep can never delete the key between the decision and its write.
    this.maintain(nowMs)
    const value = slot.decide(policies[0]!, id, cost, nowMs, out)
    if (out.allowed && !peek) {
      if (this.keys.size + 1 > this.maxKeys) this.makeRoom(slot.missing(id), slots, nowMs, id)
      slot.commit(id, value, nowMs, out.resetAtMs)
    }
    return nowMs
  }

  decideSeveral(
    prefix: string,
    policies: readonly Policy[],
    id: string,
    cost: number,
    peek: boolean,
    outs: readonly PolicyOutcome[],
  ): number {
    const nowMs = this.now()
    const slots = this.slotsFor(prefix, policies)
    for (const slot of slots) slot.advance(nowMs)
    this.maintain(nowMs)
    const values = this.values
    let allowed = true
    for (let i = 0; i < slots.length; i++) {
      values[i] = slots[i]!.decide(policies[i]!, id, cost, nowMs, outs[i]!)
      if (!outs[i]!.allowed) allowed = false
    }
    if (!allowed) {
      // All or nothing, as `evaluatePolicies`: the policies that would have admitted the request
      // report their quota uncharged, which is their outcome at a cost of 0.
      for (let i = 0; i < slots.length; i++) {
        if (outs[i]!.allowed) slots[i]!.decide(policies[i]!, id, 0, nowMs, outs[i]!)
      }
    } else if (!peek) {
      // Room is only ever needed when every slot could add a key past maxKeys.
      if (this.keys.size + slots.length > this.maxKeys) {
        let needed = 0
        for (const slot of slots) needed += slot.missing(id)
        this.makeRoom(needed, slots, nowMs, id)
      }
      for (let i = 0; i < slots.length; i++) slots[i]!.commit(id, values[i]!, nowMs, outs[i]!.resetAtMs)
    }
    return nowMs
  }

  /** The slots of a request's policies; the last list is kept, since requests repeat the same one. */
  private slotsFor(prefix: string, policies: readonly Policy[]): readonly Slot[] {
    if (policies === this.lastPolicies && prefix === this.lastPrefix) return this.lastSlots
    return this.findSlots(prefix, policies) // out of line, as WindowSlot.advance explains
  }

  private findSlots(prefix: string, policies: readonly Policy[]): readonly Slot[] {
    const slots: Slot[] = []
    for (const policy of policies) slots.push(this.slotFor(prefix, policy, true)!)
    this.lastPolicies = policies
    this.lastPrefix = prefix
    this.lastSlots = slots
    return slots
  }

  reset(request: StoreResetRequest): void {
    for (const policy of request.policies) this.slotFor(request.prefix, policy, false)?.delete(request.id)
  }

  close(): void {
    this.closed = true
    this.slots.clear()
    this.cached = new WeakMap()
    this.lastPolicies = undefined
    this.lastSlots = []
    this.slotList.length = 0
    this.keys.size = 0
  }

  private now(): number {
    const now = this.clock()
    if (now > this.lastNowMs) this.lastNowMs = now
    return this.lastNowMs
  }

  private slotFor(prefix: string, policy: Policy, create: boolean): Slot | undefined {
    // Every call after close() comes here (close() forgets the last slot list): a closed store
    // fails, so its limiters answer per onStoreError rather than count afresh from zero.
    if (this.closed) throw closedStore()
    const hit = this.cached.get(policy)
    if (hit !== undefined && hit.prefix === prefix) return hit.slot
    // One slot per counter (`counterName`): a policy of the same name with another kind or period
    // (a deploy that changed it, on a store kept across) counts apart, as on Redis.
    const key = `${prefix}\0${counterName(policy)}`
    let slot = this.slots.get(key)
    if (slot === undefined) {
      if (!create) return undefined
      slot = createSlot(policy, this.keys)
      this.slots.set(key, slot)
      this.slotList.push(slot)
    } else slot.observe(policy)
    this.cached.set(policy, { prefix, slot })
    return slot
  }

  /** Each call advances one other slot and sweeps a few expired buckets, so idle memory is freed. */
  private maintain(nowMs: number): void {
    const count = this.slotList.length
    if (count === 0) return
    this.maintenance = (this.maintenance + 1) % count
    const slot = this.slotList[this.maintenance]!
    slot.advance(nowMs)
    slot.sweep(nowMs, SWEEP_PER_CALL)
  }

  /**
   * Frees keys until `needed` more fit. Never the keys of `keep`, the identifier being decided:
   * its decision was made from them, and `needed` counts them as present.
   */
  private makeRoom(needed: number, preferred: readonly Slot[], nowMs: number, keep: string): void {
    // First every counter up to now: a passed window is freed whole, at no cost to a live count
    // and none of the eviction budget, which may run out before the last counter is looked at.
    for (const slot of this.slotList) slot.advance(nowMs)
    let budget = EVICTION_BUDGET * Math.max(1, needed)
    // The request's own counters first, then the others, each once: a counter looked at twice
    // would spend the budget on the same limited keys again.
    const order = [...preferred, ...this.slotList.filter((slot) => !preferred.includes(slot))]
    while (this.keys.size + needed > this.maxKeys) {
      let evicted = false
      for (const slot of order) {
        if (budget <= 0) break
        const result = slot.evictOne(nowMs, budget, keep)
        budget -= result.examined
        if (result.evicted) {
          evicted = true
          break
        }
      }
      if (!evicted) {
        // One error for every such answer: under a flood of new identifiers each was a fresh one,
        // and capturing its stack took half the time of the whole decision (about 5 µs).
        this.fullError ??= new FloodgateError(
          ERROR_CODES.STORE_FULL,
          `The memory store holds maxKeys (${this.maxKeys}) keys and every key it examined is still limited, so a new identifier cannot be counted. The limiter answers it as a store failure (onStoreError). Raise maxKeys or move to a shared store.`,
        )
        throw this.fullError
      }
    }
  }
}
