// The Redis server's clock as seen from this process, so that a decision can carry its deadline in
// the server's own time: a Redis that hung (paused, stopped, busy in a long command) runs the
// commands waiting on its sockets when it resumes, and the script must then count none of those
// whose requests were already answered as store failures. Not part of the public API.

import { performance } from 'node:perf_hooks'

/**
 * Monotonic ms of this process, from `node:perf_hooks`: a test's fake timers replace the
 * `performance` and `setTimeout` globals (also before this module loads, from a setup file), never
 * the modules' own exports, while Redis answers in real time.
 */
export const realNow: () => number = performance.now.bind(performance)

/**
 * Samples are kept per period: the estimate is the least sample of this period and the one just
 * before it, so a server clock that stepped back, or drifted, is followed within two periods.
 */
export const OFFSET_PERIOD_MS = 10_000

/**
 * An upper bound on (Redis server epoch ms − `realNow()`), learned from replies.
 *
 * Each sample is the server time a script read, plus the 1 ms its whole-ms `TIME` may have cut off,
 * minus the local time its command was *sent*: the script ran after it was sent, so every sample is
 * at least the true offset, however late the reply was read (a busy event loop only makes a sample
 * larger). The least sample is the closest bound. A deadline mapped with it is never earlier on the
 * server than the true deadline, so a call that reaches Redis in time is never skipped; one that
 * arrives late by less than the bound's excess (the best sample's transit, about a round trip) may
 * still count.
 *
 * A server clock that stepped forward makes the bound too small: Redis then skips calls that reached
 * it in time, and their replies arrive before the local deadline, which cannot happen with a true
 * bound. `relearn` starts over from such a reply's sample.
 */
export class ServerClock {
  private current = Number.POSITIVE_INFINITY
  private previous = Number.POSITIVE_INFINITY
  private periodEndsAt = Number.NEGATIVE_INFINITY
  /** Commands sent before this are not sampled: they may have run before the server's clock moved. */
  private sentSince = Number.NEGATIVE_INFINITY

  constructor(private readonly now: () => number = realNow) {}

  /** The offset's bound, ms, or undefined before any reply has given one. */
  get offsetMs(): number | undefined {
    const offset = Math.min(this.current, this.previous)
    return offset === Number.POSITIVE_INFINITY ? undefined : offset
  }

  /** A reply's server time (epoch ms, as the script read it) for a command sent at `sentAt`. */
  observe(serverMs: number, sentAt: number): void {
    if (!Number.isSafeInteger(serverMs) || serverMs <= 0 || sentAt < this.sentSince) return
    const sample = serverMs + 1 - sentAt
    const now = this.now()
    if (now >= this.periodEndsAt) {
      // After a quiet spell the last period is old news: the clocks may have drifted since.
      this.previous = now < this.periodEndsAt + OFFSET_PERIOD_MS ? this.current : Number.POSITIVE_INFINITY
      this.current = Number.POSITIVE_INFINITY
      this.periodEndsAt = now + OFFSET_PERIOD_MS
    }
    if (sample < this.current) this.current = sample
  }

  /**
   * A first estimate from elsewhere (another node's), until the first reply: that reply's period
   * starts afresh, so the estimate is dropped then.
   */
  seed(offsetMs: number | undefined): void {
    if (offsetMs !== undefined && this.offsetMs === undefined) this.current = offsetMs
  }

  /** Forgets every sample but this one: the server's clock moved forward. */
  relearn(serverMs: number, sentAt: number): void {
    this.current = Number.POSITIVE_INFINITY
    this.previous = Number.POSITIVE_INFINITY
    this.periodEndsAt = Number.NEGATIVE_INFINITY
    this.sentSince = sentAt
    this.observe(serverMs, sentAt)
  }

  /**
   * `deadline` (a `realNow()` time) on the server's clock, whole epoch ms, rounded up; 0 (none)
   * before the first reply.
   */
  serverTime(deadline: number): number {
    const offset = this.offsetMs
    if (offset === undefined || !Number.isFinite(deadline)) return 0
    return Math.max(1, Math.ceil(deadline + offset))
  }
}
