// An independent model of DESIGN §3 for the adapter traces, written from its words and not from
// the policy transitions: the window policies keep a log of admitted (time, cost) pairs and sum
// it; the bucket keeps its tokens in exact integers (tokens × interval). Times the contract defines
// as "the earliest time at which…" (a denial's wait, when a quota is fully restored) are found by
// searching the millisecond clock, which is valid because with nothing else arriving a window's
// count never grows and a bucket never loses tokens. Nothing here imports product code.

/** A policy as the traces describe it: the same fields as the factories take, durations in ms. */
export type TracePolicy =
  | { kind: 'fixed-window' | 'sliding-window'; name: string; limit: number; windowMs: number }
  | { kind: 'token-bucket'; name: string; capacity: number; refillRate: number; intervalMs: number }

/** One policy's part of a modelled decision. */
export interface ModelPart {
  name: string
  /** The limit or capacity. */
  quota: number
  /** The window or refill interval, ms. */
  periodMs: number
  /** Whether this policy alone admits the request. */
  allowed: boolean
  /** Quota left after the request (charged only when every policy admits). */
  remaining: number
  /** When the quota is fully restored, epoch ms. */
  resetAtMs: number
  /** Ms until this policy admits the same request; 0 when it does, Infinity when it never can. */
  retryAfterMs: number
}

/** A modelled decision over all of a request's policies. */
export interface ModelDecision {
  /** Every policy admits the request. */
  allowed: boolean
  /** One part per policy, in configuration order. */
  parts: ModelPart[]
  /** The binding part: the denying one with the longest wait, else the one with least remaining. */
  binding: ModelPart
}

interface Admitted {
  atMs: number
  cost: number
}

interface Bucket {
  /** Tokens × intervalMs. */
  scaled: number
  /** When `scaled` was measured; undefined for a bucket never charged (full). */
  atMs: number | undefined
}

export const quotaOf = (p: TracePolicy) => (p.kind === 'token-bucket' ? p.capacity : p.limit)
export const periodOf = (p: TracePolicy) => (p.kind === 'token-bucket' ? p.intervalMs : p.windowMs)

const sum = (log: readonly Admitted[], fromMs: number, toMs: number) =>
  log.reduce((total, a) => (a.atMs >= fromMs && a.atMs < toMs ? total + a.cost : total), 0)

/** The first ms in [fromMs, toMs] at which `holds` does, for a `holds` that never turns false again. */
function earliest(fromMs: number, toMs: number, holds: (ms: number) => boolean): number {
  if (!holds(toMs)) throw new Error(`trace model: nothing holds by ${toMs}`)
  let lo = fromMs
  let hi = toMs
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2)
    if (holds(mid)) hi = mid
    else lo = mid + 1
  }
  return lo
}

/** The model of one limiter: counters by (policy name, identifier), as DESIGN §4 keys them. */
export class TraceModel {
  private readonly logs = new Map<string, Admitted[]>()
  private readonly buckets = new Map<string, Bucket>()

  /**
   * Decides a request of `cost` at `nowMs` and records it when every policy admits it: "a request
   * that is denied changes no state"; "if one denies, none is charged". (Shadow mode counts the
   * same: it only answers a denial with 200.)
   */
  decide(id: string, policies: readonly TracePolicy[], cost: number, nowMs: number): ModelDecision {
    const admits = policies.map((p) => this.admits(p, id, cost, nowMs))
    const allowed = admits.every(Boolean)
    if (allowed) for (const p of policies) this.charge(p, id, cost, nowMs)
    const parts = policies.map((p, i): ModelPart => {
      const own = admits[i]!
      const retryAfterMs = own
        ? 0
        : cost > quotaOf(p)
          ? Number.POSITIVE_INFINITY
          : earliest(nowMs, nowMs + 2 * periodOf(p) + this.refillMs(p), (t) => this.admits(p, id, cost, t)) -
            nowMs
      return {
        name: p.name,
        quota: quotaOf(p),
        periodMs: periodOf(p),
        allowed: own,
        remaining: this.remaining(p, id, nowMs),
        resetAtMs: this.resetAt(p, id, nowMs),
        retryAfterMs,
      }
    })
    return { allowed, parts, binding: bindingOf(parts) }
  }

  private key(p: TracePolicy, id: string): string {
    return JSON.stringify([p.name, id])
  }

  private log(p: TracePolicy, id: string): Admitted[] {
    const key = this.key(p, id)
    const log = this.logs.get(key) ?? []
    this.logs.set(key, log)
    return log
  }

  /** Units counted against a window policy at `atMs`, × windowMs for the sliding window. */
  private weighted(p: TracePolicy & { windowMs: number }, id: string, atMs: number): number {
    const w = p.windowMs
    const start = Math.floor(atMs / w) * w
    const log = this.log(p, id)
    if (p.kind === 'fixed-window') return sum(log, start, start + w) * w
    return sum(log, start - w, start) * (w - (atMs - start)) + sum(log, start, start + w) * w
  }

  /** Tokens × intervalMs in the bucket at `atMs`. */
  private tokens(p: TracePolicy & { kind: 'token-bucket' }, id: string, atMs: number): number {
    const full = p.capacity * p.intervalMs
    const b = this.buckets.get(this.key(p, id))
    if (b?.atMs === undefined) return full
    return Math.min(full, b.scaled + (atMs - b.atMs) * p.refillRate)
  }

  /** Ms a bucket takes to refill from empty (0 for windows): a bound for the searches. */
  private refillMs(p: TracePolicy): number {
    return p.kind === 'token-bucket' ? Math.ceil((p.capacity * p.intervalMs) / p.refillRate) : 0
  }

  private admits(p: TracePolicy, id: string, cost: number, atMs: number): boolean {
    if (p.kind === 'token-bucket') return this.tokens(p, id, atMs) >= cost * p.intervalMs
    return this.weighted(p, id, atMs) + cost * p.windowMs <= p.limit * p.windowMs
  }

  private charge(p: TracePolicy, id: string, cost: number, atMs: number): void {
    if (p.kind !== 'token-bucket') {
      this.log(p, id).push({ atMs, cost })
      return
    }
    this.buckets.set(this.key(p, id), { scaled: this.tokens(p, id, atMs) - cost * p.intervalMs, atMs })
  }

  private remaining(p: TracePolicy, id: string, atMs: number): number {
    if (p.kind === 'token-bucket') return Math.floor(this.tokens(p, id, atMs) / p.intervalMs)
    return Math.max(0, Math.floor((p.limit * p.windowMs - this.weighted(p, id, atMs)) / p.windowMs))
  }

  /**
   * When the policy's whole quota is back: DESIGN §3 gives (n + 1)·W for a fixed window; a bucket is
   * full again, a sliding window has nothing counted any more (docs/headers.md: `t`).
   */
  private resetAt(p: TracePolicy, id: string, nowMs: number): number {
    if (p.kind === 'fixed-window') return (Math.floor(nowMs / p.windowMs) + 1) * p.windowMs
    const restored =
      p.kind === 'token-bucket'
        ? (t: number) => this.tokens(p, id, t) === p.capacity * p.intervalMs
        : (t: number) => this.weighted(p, id, t) === 0
    return earliest(nowMs, nowMs + 2 * periodOf(p) + this.refillMs(p), restored)
  }
}

/** "The denying one with the longest wait, else the one with the least remaining"; ties: the first. */
function bindingOf(parts: readonly ModelPart[]): ModelPart {
  const denied = parts.filter((p) => !p.allowed)
  if (denied.length > 0) return denied.reduce((a, b) => (b.retryAfterMs > a.retryAfterMs ? b : a))
  return parts.reduce((a, b) => (b.remaining < a.remaining ? b : a))
}
