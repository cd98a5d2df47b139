import { ERROR_CODES, FloodgateError, invalidOption } from '../errors.js'
import type { Policy, PolicyOutcome } from '../policies/types.js'
import type { RateLimitStore, StoreRequest, StoreResetRequest, StoreResponse } from '../store.js'
import { DECIDE_SCRIPT, DECIDE_SHA1 } from './decide-script.js'
import { cachedDigest, counterKeys } from './keys.js'

/** What a script store needs from a client: run a script by hash or by source, delete keys. */
export interface ScriptRunner {
  evalsha(sha1: string, keys: string[], args: string[]): Promise<unknown>
  eval(script: string, keys: string[], args: string[]): Promise<unknown>
  del(keys: string[]): Promise<unknown>
  /** Throws when the client is known to be disconnected, so nothing waits on it. */
  assertReady?(): void
}

export interface ScriptStoreSettings {
  name: string
  /** Epoch ms for tests; undefined = the Redis server's clock (TIME inside the script). */
  clock: (() => number) | undefined
}

/**
 * With an injected clock, key TTLs are relative to that clock, not to Redis time: a test clock may
 * run slower than real time, so keys live this much longer than their state matters (an expired
 * state means the same as a missing one, so a longer TTL never changes a decision).
 */
export const INJECTED_CLOCK_TTL_SLACK_MS = 60_000

/**
 * After this long without any answer from the client while calls wait, the connection is taken for
 * dead (a partition: TCP open, nothing coming back) and new calls fail at once instead of joining
 * the pile. A client whose timeouts close such a connection sooner (ioredis `commandTimeout` +
 * `socketTimeout`) never reaches it; node-redis's socket timeout is an idle timer that steady
 * traffic keeps resetting, so it needs this bound.
 *
 * The silence is judged by a watchdog that looks only after the event loop has polled for I/O:
 * a process too busy to read its socket (a burst of thousands of calls sent in one synchronous
 * loop, a CPU-starved machine) has replies waiting, not a silent Redis, and must not fail them.
 */
export const STALL_MS = 1_000
/** How often the watchdog looks while calls wait. */
const WATCH_EVERY_MS = STALL_MS / 10

const KIND_CODE = { 'fixed-window': '1', 'sliding-window': '2', 'token-bucket': '3' } as const

/** A store that decides with `DECIDE_SCRIPT`; the Redis and Upstash stores differ only in the runner. */
export function createScriptStore(runner: ScriptRunner, settings: ScriptStoreSettings): RateLimitStore {
  return new ScriptStore(runner, settings)
}

export function checkClock(clock: unknown, option: string): (() => number) | undefined {
  if (clock !== undefined && typeof clock !== 'function') {
    invalidOption(option, clock, 'a function returning epoch milliseconds')
  }
  return clock as (() => number) | undefined
}

class ScriptStore implements RateLimitStore {
  readonly local = false
  readonly name: string
  private readonly clock: (() => number) | undefined
  private lastNowMs = 0
  /** Per policy list: the script's policy argument and each key's tail after the digest. */
  private readonly lists = new WeakMap<readonly Policy[], { spec: string; tails: readonly string[] }>()
  /** Calls handed to the client and not yet settled. */
  private inFlight = 0
  /** Monotonic ms of the last settled call, or of the first call sent after none were waiting. */
  private heardAtMs = 0
  /** Set by the watchdog once calls have waited STALL_MS with no answer; cleared by any answer. */
  private stalled = false
  private watchdog: ReturnType<typeof setInterval> | undefined

  constructor(
    private readonly runner: ScriptRunner,
    settings: ScriptStoreSettings,
  ) {
    this.name = settings.name
    this.clock = settings.clock
  }

  // Not `async`, and one `then` on the client's promise: every decision goes through here, and
  // each promise layer is garbage the event loop pays for at 64 calls in flight.
  consume(request: StoreRequest): Promise<StoreResponse> {
    try {
      const { policies } = request
      const list = this.listOf(policies)
      const head = `${request.prefix}:{${cachedDigest(request.id)}`
      const n = policies.length
      const keys = new Array<string>(n)
      for (let i = 0; i < n; i++) keys[i] = head + list.tails[i]!
      const cost = request.cost === 1 ? '1' : String(request.cost)
      const peek = request.peek ? '1' : '0'
      const args =
        this.clock === undefined
          ? [cost, peek, list.spec]
          : [cost, peek, list.spec, this.injectedNowMs(), String(INJECTED_CLOCK_TTL_SLACK_MS)]
      return this.run(keys, args, n)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  async reset(request: StoreResetRequest): Promise<void> {
    if (request.policies.length === 0) return
    this.runner.assertReady?.()
    // Every key of one identifier shares a hash tag, so one DEL works on a Cluster too.
    await this.runner.del(
      counterKeys(
        request.prefix,
        request.id,
        request.policies.map((p) => p.name),
      ),
    )
  }

  close(): void {
    // The client belongs to the caller: closing it is theirs to do.
    this.stopWatching()
  }

  /** EVALSHA first; EVAL only when Redis says it lacks the script (NOSCRIPT ran nothing). */
  private run(keys: string[], args: string[], policyCount: number): Promise<StoreResponse> {
    this.runner.assertReady?.()
    if (this.stalled) {
      throw new FloodgateError(
        ERROR_CODES.STORE_ERROR,
        `Redis has answered none of the ${this.inFlight} calls waiting for over ${STALL_MS} ms; the ${this.name} store sends nothing more until one settles.`,
      )
    }
    if (this.inFlight === 0) {
      this.heardAtMs = performance.now()
      this.watch()
    }
    this.inFlight++
    let sent: Promise<unknown>
    try {
      sent = this.runner.evalsha(DECIDE_SHA1, keys, args)
    } catch (error) {
      this.settled()
      throw asTimeout(error, this.name)
    }
    return sent.then(
      (reply) => {
        this.settled()
        return decodeReply(reply, policyCount)
      },
      (error: unknown) => {
        if (!isNoScript(error)) {
          this.settled()
          throw asTimeout(error, this.name)
        }
        return this.runner.eval(DECIDE_SCRIPT, keys, args).then(
          (reply) => {
            this.settled()
            return decodeReply(reply, policyCount)
          },
          (evalError: unknown) => {
            this.settled()
            throw asTimeout(evalError, this.name)
          },
        )
      },
    )
  }

  private settled(): void {
    this.inFlight--
    this.heardAtMs = performance.now()
    this.stalled = false
  }

  private watch(): void {
    if (this.watchdog !== undefined) return
    // Timers run before the poll phase; setImmediate runs after it, once every reply that arrived
    // while the loop was busy has been read. Unref'd: it never keeps the process alive.
    this.watchdog = setInterval(() => setImmediate(() => this.inspect()), WATCH_EVERY_MS)
    this.watchdog.unref?.()
  }

  private inspect(): void {
    if (this.inFlight === 0) {
      this.stopWatching()
      return
    }
    this.stalled = performance.now() - this.heardAtMs > STALL_MS
  }

  private stopWatching(): void {
    if (this.watchdog !== undefined) clearInterval(this.watchdog)
    this.watchdog = undefined
    this.stalled = false
  }

  private injectedNowMs(): string {
    const now = this.clock!()
    if (!Number.isSafeInteger(now) || now < 0) {
      throw new FloodgateError(
        ERROR_CODES.STORE_ERROR,
        `The ${this.name} store's clock returned ${String(now)}; expected whole epoch milliseconds.`,
      )
    }
    // Like the memory store, never run backward: a step back could re-open a window.
    if (now > this.lastNowMs) this.lastNowMs = now
    return String(this.lastNowMs)
  }

  private listOf(policies: readonly Policy[]): { spec: string; tails: readonly string[] } {
    let list = this.lists.get(policies)
    if (list === undefined) {
      let spec = ''
      for (const p of policies) {
        spec +=
          p.kind === 'token-bucket'
            ? `${KIND_CODE[p.kind]} ${p.capacity} ${p.intervalMs} ${p.refillRate};`
            : `${KIND_CODE[p.kind]} ${p.limit} ${p.windowMs} 0;`
      }
      list = { spec, tails: policies.map((p) => `}:${p.name}`) }
      this.lists.set(policies, list)
    }
    return list
  }
}

/**
 * The client's own timeout (ioredis `socketTimeout` / `commandTimeout`, node-redis `socketTimeout` /
 * `commandOptions.timeout`, set below the limiter's `timeout` as docs/stores.md says) is the same
 * event as the limiter's deadline, only noticed first: it gets the same code.
 */
function asTimeout(error: unknown, store: string): unknown {
  if (!(error instanceof Error)) return error
  const timedOut =
    error.name === 'TimeoutError' ||
    /^(Socket timeout|Command timed out)/.test(error.message) ||
    error.constructor.name === 'SocketTimeoutError'
  if (!timedOut) return error
  return new FloodgateError(
    ERROR_CODES.STORE_TIMEOUT,
    `The ${store} store's client gave up waiting for Redis: ${error.message || error.name}`,
    { cause: error },
  )
}

/** True for Redis's NOSCRIPT reply, however the client wraps it. */
export function isNoScript(error: unknown): boolean {
  return error instanceof Error && /noscript/i.test(error.message)
}

/**
 * Turns the script's flat integer reply into outcomes: nowMs, then per policy allowed, remaining,
 * resetAtMs - nowMs and retryAfterMs, where -1 stands for an infinite retryAfterMs.
 */
export function decodeReply(reply: unknown, policyCount: number): StoreResponse {
  if (!Array.isArray(reply) || reply.length !== 1 + 4 * policyCount) {
    throw new FloodgateError(
      ERROR_CODES.STORE_ERROR,
      `The decision script answered ${JSON.stringify(reply)?.slice(0, 80)}; expected ${1 + 4 * policyCount} integers. Is another program writing Floodgate's keys?`,
    )
  }
  const nowMs = Number(reply[0])
  const outcomes = new Array<PolicyOutcome>(policyCount)
  for (let i = 0; i < policyCount; i++) {
    const at = 1 + 4 * i
    const retryAfterMs = Number(reply[at + 3])
    outcomes[i] = {
      allowed: reply[at] === 1 || reply[at] === '1',
      remaining: Number(reply[at + 1]),
      resetAtMs: nowMs + Number(reply[at + 2]),
      retryAfterMs: retryAfterMs === -1 ? Number.POSITIVE_INFINITY : retryAfterMs,
    }
  }
  return { nowMs, outcomes }
}
