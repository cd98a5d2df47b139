/** A clock for deterministic tests: returns epoch ms and moves only when told to. */
export interface ManualClock {
  (): number
  /** Moves the clock forward by `ms` (or backward, if negative) and returns the new time. */
  advance(ms: number): number
  /** Sets the clock to `ms` (epoch ms) and returns it. */
  set(ms: number): number
}

/** A clock starting at `startMs` (epoch ms) that only moves by `advance()` or `set()`. */
export function manualClock(startMs = 0): ManualClock {
  let nowMs = checkTime(startMs, 'startMs')
  const clock = (() => nowMs) as ManualClock
  clock.advance = (ms: number) => {
    nowMs = checkTime(nowMs + checkTime(ms, 'ms'), 'the new time')
    return nowMs
  }
  clock.set = (ms: number) => {
    nowMs = checkTime(ms, 'ms')
    return nowMs
  }
  return clock
}

function checkTime(ms: number, what: string): number {
  if (!Number.isSafeInteger(ms)) throw new TypeError(`manualClock: ${what} must be a safe integer, got ${ms}`)
  return ms
}
