import { ERROR_CODES, FloodgateError } from './errors.js'

/**
 * Whether `fn` is a test's fake timer function: @sinonjs/fake-timers (sinon, vitest, Jest's modern
 * timers) marks each one it installs with its `clock`; Jest's legacy timers are mock functions.
 * Asked of the globals as they are now, so it holds whether the fakes came before this module
 * loaded (a test's setup file) or after, and ends when they are uninstalled.
 */
function isFake(fn: unknown): boolean {
  return typeof fn !== 'function' || 'clock' in fn || '_isMockFunction' in fn
}

/**
 * False while a test's fake timers stand in for the real ones: deadlines then pass only when the
 * test moves its clock.
 */
export function timersAreReal(): boolean {
  return !isFake(globalThis.setTimeout) && !isFake(globalThis.setImmediate)
}

/**
 * Runs `then` once the event loop has read what arrived on its sockets, as every deadline here is
 * judged. After a stall of the loop (a long synchronous task, a garbage collection) Node runs due
 * timers before it reads sockets: a reply that came back in time, waiting there, would be taken for
 * a timeout, and every call in flight across a stall longer than the timeout would fail. An
 * immediate runs after that read. Under fake timers, at once: no socket is waited on there, and a
 * test that moves its clock past a deadline expects it passed.
 */
export function afterPendingIo(then: () => void): void {
  // The global, just seen to be real: an import of `node:timers` may hold a fake of a test's that
  // was installed when this module loaded, and is dead once uninstalled.
  if (timersAreReal()) globalThis.setImmediate(then)
  else then()
}

/**
 * Settles with `work`, or rejects with ERR_FLOODGATE_STORE_TIMEOUT after `ms` (see
 * {@link afterPendingIo}). The timer is unref'd (it never keeps the process alive) and cleared as
 * soon as the work settles; a late rejection of the abandoned work is swallowed so it can never
 * become an unhandled rejection.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      afterPendingIo(() =>
        reject(new FloodgateError(ERROR_CODES.STORE_TIMEOUT, `${what} did not answer within ${ms} ms.`)),
      )
    }, ms)
    timer.unref?.()
    work.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}

/** A call waiting on a remote store: its queue calls `expire` at `atMs` unless it settled first. */
export interface PendingCall {
  /** Set by {@link DeadlineQueue.track}: `performance.now()` then, plus the queue's `ms`. */
  atMs: number
  settled: boolean
  /** Answers the call as timed out; the queue has already set `settled`. */
  expire(): void
}

/**
 * Deadlines for calls that all wait the same `ms`, so they expire in the order they were added:
 * one unref'd timer for the whole queue, armed for the oldest unsettled call, instead of a timer
 * armed and cleared per call. Settled calls leave the front of the queue as new calls come, or as
 * the timer passes them.
 */
export class DeadlineQueue {
  private calls: PendingCall[] = []
  private head = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  /** The `setTimeout` that armed `timer`, and the `clearTimeout` beside it. */
  private armedWith: typeof setTimeout | undefined
  private clear: typeof clearTimeout = clearTimeout
  /** While `expireDue` walks the calls: `track` (from an expiry's hook) only appends then. */
  private sweeping = false

  constructor(readonly ms: number) {}

  /** Starts a call's deadline now. The caller sets `settled` when the call answers in time. */
  track(call: PendingCall): void {
    call.atMs = performance.now() + this.ms
    this.calls.push(call)
    // Calls answered in time leave the front as new ones come: under a long `timeout` the queue
    // kept every answered call (and, through it, its decision) until the timer passed it, about
    // 0.9 KB a decision for the whole timeout.
    if (!this.sweeping) {
      let i = this.head
      while (i < this.calls.length && this.calls[i]!.settled) i++
      if (i > this.head) this.passed(i)
    }
    if (this.timer === undefined) this.arm(this.ms)
    else if (this.armedWith !== globalThis.setTimeout) {
      // Armed under a test's fake timers that are gone now (it never fires), under an earlier test's
      // fakes, or a real timer under fakes (it follows no fake clock): armed again, under the timers
      // in place, to look at once.
      this.clear(this.timer)
      this.arm(1)
    }
  }

  /** Lets go of the calls before `i`, the array itself once they are most of it. */
  private passed(i: number): void {
    const calls = this.calls
    if (i === calls.length) {
      calls.length = 0
      this.head = 0
    } else if (i > 1024 && i * 2 > calls.length) {
      this.calls = calls.slice(i)
      this.head = 0
    } else {
      this.head = i
    }
  }

  private arm(delayMs: number): void {
    if (this.armedWith !== undefined && this.armedWith !== globalThis.setTimeout) {
      // The calls waiting were timed on the clock of other timers (a test's fake clock an hour
      // ahead would hold every call behind them): none waits longer than `ms` from now.
      const latest = performance.now() + this.ms
      for (let i = this.head; i < this.calls.length; i++) {
        const waiting = this.calls[i]!
        if (waiting.atMs > latest) waiting.atMs = latest
      }
      if (delayMs > this.ms) delayMs = this.ms
    }
    this.armedWith = globalThis.setTimeout
    this.clear = globalThis.clearTimeout
    this.timer = globalThis.setTimeout(this.sweep, delayMs)
    this.timer.unref?.()
  }

  private readonly sweep = (): void => {
    afterPendingIo(this.expireDue)
  }

  private readonly expireDue = (): void => {
    this.timer = undefined
    const nowMs = performance.now()
    const calls = this.calls
    let i = this.head
    // `expire` may add calls (a hook that decides again): the loop sees them, none are due.
    this.sweeping = true
    while (i < calls.length) {
      const call = calls[i]!
      if (!call.settled) {
        if (call.atMs > nowMs) break
        call.settled = true
        try {
          call.expire()
        } catch {
          // `expire` answers a decision and must not throw; if it did, the other calls still expire.
        }
      }
      i++
    }
    this.sweeping = false
    this.passed(i)
    if (this.timer !== undefined) this.clear(this.timer)
    this.timer = undefined
    const next = this.calls[this.head]
    if (next !== undefined) this.arm(Math.max(1, Math.ceil(next.atMs - nowMs)))
  }
}
