// Independent models of DESIGN §3, written from its words rather than from the reference
// transitions: the window policies keep a log of admitted (time, cost) pairs and sum it; the bucket
// keeps its token count in exact integers (tokens × interval) and refills it on every look.
// Property tests hold every store, through createRateLimiter, to these models.

/** One policy's model: what it would decide at `nowMs`, and recording an admitted request. */
export interface PolicyModel {
  /** Largest cost that can ever be admitted (the limit or the capacity). */
  readonly quota: number
  /** Whether a request of `cost` at `nowMs` is admitted; changes nothing. */
  admits(nowMs: number, cost: number): boolean
  /** Quota left at `nowMs` after a request of `cost` that is admitted iff `admitted` (never negative). */
  remaining(nowMs: number, cost: number, admitted: boolean): number
  /** Records an admitted request. A denied request is never recorded: it changes nothing. */
  admit(nowMs: number, cost: number): void
  /** Checks the policy's bound over everything admitted so far; returns a description of a breach. */
  breach(): string | undefined
}

interface Admitted {
  atMs: number
  cost: number
}

const sum = (log: readonly Admitted[], from: number, to: number) =>
  log.reduce((total, a) => (a.atMs >= from && a.atMs < to ? total + a.cost : total), 0)

/** "Windows are aligned to the epoch; with c used in window n, admitted iff c + k ≤ limit." */
export function fixedWindowModel(limit: number, windowMs: number): PolicyModel {
  const log: Admitted[] = []
  const usedAt = (nowMs: number) => {
    const start = Math.floor(nowMs / windowMs) * windowMs
    return sum(log, start, start + windowMs)
  }
  return {
    quota: limit,
    admits: (nowMs, cost) => usedAt(nowMs) + cost <= limit,
    remaining: (nowMs, cost, admitted) => Math.max(0, limit - usedAt(nowMs) - (admitted ? cost : 0)),
    admit: (atMs, cost) => void log.push({ atMs, cost }),
    breach() {
      for (const a of log) {
        const used = usedAt(a.atMs)
        if (used > limit) return `window of ${a.atMs} admitted ${used} > ${limit}`
      }
      return undefined
    },
  }
}

/**
 * "With p used in window n − 1, c in window n and e = now − n·W elapsed: admitted iff
 * p·(W − e) + (c + k)·W ≤ limit·W; remaining = floor((limit·W − p·(W − e) − c'·W) / W)."
 */
export function slidingWindowModel(limit: number, windowMs: number): PolicyModel {
  const log: Admitted[] = []
  /** p·(W − e) + c·W at `nowMs`, from the admissions in `admitted`. */
  const weighted = (nowMs: number, admitted: readonly Admitted[] = log) => {
    const start = Math.floor(nowMs / windowMs) * windowMs
    const previous = sum(admitted, start - windowMs, start)
    const current = sum(admitted, start, start + windowMs)
    return previous * (windowMs - (nowMs - start)) + current * windowMs
  }
  return {
    quota: limit,
    admits: (nowMs, cost) => weighted(nowMs) + cost * windowMs <= limit * windowMs,
    remaining: (nowMs, cost, admitted) =>
      Math.max(
        0,
        Math.floor((limit * windowMs - weighted(nowMs) - (admitted ? cost : 0) * windowMs) / windowMs),
      ),
    admit: (atMs, cost) => void log.push({ atMs, cost }),
    breach() {
      // Right after each admission the weighted count, that admission included, is within the limit.
      for (let i = 0; i < log.length; i++) {
        const w = weighted(log[i]!.atMs, log.slice(0, i + 1))
        if (w > limit * windowMs) return `weighted count ${w / windowMs} > ${limit} at ${log[i]!.atMs}`
      }
      return undefined
    },
  }
}

/**
 * "A bucket starts full; it refills continuously at refillRate tokens per interval, never above
 * capacity. Admitted iff at least k tokens are available." Tokens are kept × intervalMs, exactly.
 */
export function tokenBucketModel(capacity: number, refillRate: number, intervalMs: number): PolicyModel {
  const full = capacity * intervalMs
  let scaled = full
  let atMs: number | undefined
  const log: Admitted[] = []
  const tokensAt = (nowMs: number) =>
    atMs === undefined ? full : Math.min(full, scaled + Math.max(0, nowMs - atMs) * refillRate)
  return {
    quota: capacity,
    admits: (nowMs, cost) => tokensAt(nowMs) >= cost * intervalMs,
    remaining: (nowMs, cost, admitted) =>
      Math.floor((tokensAt(nowMs) - (admitted ? cost * intervalMs : 0)) / intervalMs),
    admit(nowMs, cost) {
      scaled = tokensAt(nowMs) - cost * intervalMs
      atMs = nowMs
      log.push({ atMs: nowMs, cost })
    },
    breach() {
      if (scaled < 0 || scaled > full) return `bucket holds ${scaled / intervalMs} tokens`
      // Over any span, no more than a full bucket plus what refilled during it was admitted.
      for (const from of log) {
        const taken = log.reduce((t, a) => (a.atMs >= from.atMs ? t + a.cost : t), 0)
        const last = log[log.length - 1]!.atMs
        if (taken * intervalMs > full + (last - from.atMs) * refillRate) {
          return `${taken} tokens taken from ${from.atMs} to ${last}`
        }
      }
      return undefined
    },
  }
}
