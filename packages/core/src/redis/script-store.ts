import { afterPendingIo, timersAreReal } from '../deadline.js'
import { ERROR_CODES, FloodgateError } from '../errors.js'
import { counterName } from '../keys.js'
import type { Policy, PolicyOutcome } from '../policies/types.js'
import { COUNTER_SPACE } from '../process-registry.js'
import { type QueuedCall, readOutcome, SUBMIT, type SubmittingStore } from '../queued-call.js'
import type { RateLimitStore, StoreRequest, StoreResetRequest, StoreResponse } from '../store.js'
import { epochMs } from '../store-clock.js'
import { type Logger, WARNING_CODES, warnOfClient } from '../warnings.js'
import { DECIDE_SCRIPT, DECIDE_SHA1 } from './decide-script.js'
import { cachedDigest, clusterSlot, counterKeys } from './keys.js'
import { realNow, ServerClock } from './server-clock.js'

/** A settled promise: `then` on it queues a promise job. */
const PROMISE_JOB: Promise<void> = Promise.resolve()

/**
 * The open script stores of each client (COUNTER_SPACE): a reset on one sends the decisions queued
 * on the others first, as it does its own, so calls through two stores of one client reach Redis in
 * the order they were made. Weakly held: a store never closed does not stay alive for it.
 */
const storesOfClient = new WeakMap<object, Set<WeakRef<ScriptStore>>>()

/**
 * How many stores of `client` its entry in {@link storesOfClient} holds, collected ones not swept
 * yet included (for tests: it must stay bounded).
 */
export function storesOfClientSize(client: object): number {
  return storesOfClient.get(client)?.size ?? 0
}

/** What a script store needs from a client: run a script by hash or by source, delete keys. */
export interface ScriptRunner {
  evalsha(sha1: string, keys: string[], args: string[]): Promise<unknown>
  eval(script: string, keys: string[], args: string[]): Promise<unknown>
  del(keys: string[]): Promise<unknown>
  /** Throws when the client is known to be disconnected, so nothing waits on it. */
  assertReady?(): void
  /**
   * A Cluster client's node for a hash slot as it knows it now (`host:port`), undefined when it
   * does not know (yet): its connection is the one whose silence a call to that slot is judged by.
   */
  nodeOf?(slot: number): string | undefined
  /** The client's error as an operator should read it, where the client's own text misleads. */
  explain?(error: unknown): unknown
}

export interface ScriptStoreSettings {
  name: string
  /** Epoch ms for tests; undefined = the Redis server's clock (TIME inside the script). */
  clock: (() => number) | undefined
  /**
   * Most decisions one script call carries. Decisions started in the same tick share a call, up to
   * this many; 1 sends each alone at once (a Cluster client: the keys of one call share one slot).
   */
  maxBatch: number
  /**
   * A call sent and still unanswered after this many ms fails as a timeout, and its late reply is
   * ignored. For node-redis, whose `commandOptions.timeout` stops applying once a command is
   * written; undefined where the client times its commands out itself (ioredis `commandTimeout`).
   */
  replyTimeoutMs?: number | undefined
  /**
   * The client's own timeout on a command from each time the store hands it over (ioredis
   * `commandTimeout`): a call it failed has been answered, so the script must not count it after
   * that either; undefined for none. (`replyTimeoutMs` bounds the deadline too, from the first send.)
   */
  commandTimeoutMs?: number | undefined
  /**
   * The client's socket timeout, which fails every command on the connection when it fires; from
   * the last write (`socketTimeoutFromWrite`, node-redis) or, for ioredis, from the last data
   * received while commands wait (the store takes its own last reply: no later than that).
   */
  socketTimeoutMs?: number | undefined
  socketTimeoutFromWrite?: boolean
  /**
   * Whether the server's clock is learned per Cluster hash slot rather than once: a Cluster's nodes
   * may disagree on the time by more than a deadline, and one estimate for all would have on-time
   * calls skipped on the node whose clock runs ahead. A slot lives on one node at a time, and a
   * call's keys share one slot (`maxBatch` 1). Default false.
   */
  clockPerSlot?: boolean
  /**
   * Once the client is taken for silent (STALL_MS), still let one call through per STALL_MS to find
   * out. False for Redis clients, whose commands share one connection: one unanswered means all
   * behind it are, and a reply or the client letting go ends it. True for Upstash, whose HTTP
   * requests are independent: one lost request says nothing about the next, and nothing else would
   * ever be answered to end the stall. Default false.
   */
  probeWhenStalled?: boolean
  /**
   * The client's risky settings, said once (see `warnOfClient`): through `logger` at once, else
   * through the first limiter given the store, else to `console` at the store's first call.
   */
  clientWarning?: { client: object; logger: Logger | undefined; message: string }
  /**
   * The client: another store made from it counts in the same keys, so limiters on the two share
   * counters as on one store (the shared-counters warning reads it as COUNTER_SPACE).
   */
  counterSpace?: object
}

/**
 * Most decisions one script call carries by default: enough to share one command among the
 * decisions a busy process starts in one tick, few enough that one call holds Redis for well under
 * a millisecond.
 */
export const MAX_BATCH = 16

/** Decisions queued for one script call: their keys and arguments in order, and their calls. */
interface Batch {
  keys: string[]
  /**
   * nowMs and slack ('' for the server clock), the deadline on the server's clock (set when sent),
   * then one `<cost>[p][:<policies>]` per call.
   */
  args: string[]
  /** The policy list the last call named (a call names its list only when it differs). */
  spec: string
  calls: QueuedCall[]
  /** Policies of each call, to split the reply. */
  counts: number[]
  /** Set once the calls are answered (by a reply, an error or the reply timeout). */
  answered: boolean
  replyTimer: ReturnType<typeof setTimeout> | undefined
  /** The store's count of resets sent when this batch was sent (see the NOSCRIPT branch of flush). */
  resetsBefore: number
  /** The limiter's deadline of its calls (`performance.now()` ms, within 1 ms), 0 for none. */
  atMs: number
  /** `realNow()` when the batch was flushed (its reply timer's start). */
  flushedAt: number
  /** `realNow()` when the batch was last handed to the client. */
  sentAt: number
  /** `realNow()` after which nobody waits for the batch any more (its earliest call's deadline). */
  deadline: number
  /** `deadline` but for the socket timeout, which only fires if no reply comes on the socket. */
  strictDeadline: number
  /** Whether it was sent again after Redis skipped it in time (the server's clock moved forward). */
  resent: boolean
  /** `realNow()` of Redis's first TRYAGAIN answer to it, 0 before any. */
  tryAgainSince: number
  /** The server's clock as learned for the batch's node. */
  clock: ServerClock
  /** Whether the batch's connection answers (a Cluster: its hash slot's node). */
  silence: Silence
}

/**
 * Whether one connection answers: the commands it was handed that wait, and when it last answered.
 * A store has one; on a Cluster one per node (each has its own connection), so that one silent node
 * fails only the calls that go to it.
 */
class Silence {
  /** Commands handed to the client whose promise has not settled (a timed-out call's included). */
  outstanding = 0
  /** Monotonic ms of the last answer, or of the first command sent after none were waiting. */
  heardAtMs = 0
  /** Set by the watchdog once calls have waited STALL_MS with no answer; cleared by any answer. */
  stalled = false
  /** When the last call went out while stalled (or the stall began), for `probeWhenStalled`. */
  probedAtMs = 0
  /**
   * Commands sent since the last answer. With `probeWhenStalled` (independent requests) only those
   * count, and one alone is no silence: a request sent before an answer and still out, or the last
   * one before a quiet spell, may have been lost on its own (a connection cut while a function was
   * frozen); a second unanswered one says the service is not answering.
   */
  sentSinceHeard = 0
}

/**
 * With an injected clock, key TTLs are relative to that clock, not to Redis time: a test clock may
 * run slower than real time, so keys live this much longer than their state matters (an expired
 * state means the same as a missing one, so a longer TTL never changes a decision).
 */
export const INJECTED_CLOCK_TTL_SLACK_MS = 60_000
const SLACK = String(INJECTED_CLOCK_TTL_SLACK_MS)

/**
 * After this long without any answer from the client while commands it was handed wait, the
 * connection is taken for dead (a partition: TCP open, nothing coming back) and new calls fail at
 * once instead of joining the pile. A timeout is not an answer: a call the reply timeout failed
 * still waits in the client. A client whose timeouts close such a connection sooner (ioredis
 * `commandTimeout` + `socketTimeout`) never reaches it; node-redis's socket timeout is an idle timer
 * that steady traffic keeps resetting, so it needs this bound: with nothing more written, the socket
 * goes idle, closes, and the client lets go of every command.
 *
 * The silence is judged by a watchdog that looks only after the event loop has polled for I/O:
 * a process too busy to read its socket (a burst of thousands of calls sent in one synchronous
 * loop, a CPU-starved machine) has replies waiting, not a silent Redis, and must not fail them.
 */
export const STALL_MS = 1_000
/** How often the watchdog looks while calls wait. */
export const WATCH_EVERY_MS = STALL_MS / 10

/**
 * The wait before a command Redis answered TRYAGAIN goes again: a Cluster slot is moving and the
 * command's keys are split between its two nodes, so Redis ran nothing and asks to retry later.
 * Resharding moves a slot's keys a batch per MIGRATE, milliseconds apart, so the split rarely
 * lasts long. ioredis waits 100 ms (`retryDelayOnTryAgain`), which leaves a decision one or two
 * tries within the limiter's default 250 ms `timeout`; 25 ms leaves it several, each costing Redis
 * one refused command.
 */
export const TRYAGAIN_DELAY_MS = 25
/**
 * How long a command goes again after TRYAGAIN when no deadline bounds it: a reset (unless the
 * client's reply timeout is set), or a decision with neither the limiter's nor the client's timeout.
 */
export const TRYAGAIN_FOR_MS = 1_000

const KIND_CODE = { 'fixed-window': '1', 'sliding-window': '2', 'token-bucket': '3' } as const

/** A store that decides with `DECIDE_SCRIPT`; the Redis and Upstash stores differ only in the runner. */
export function createScriptStore(runner: ScriptRunner, settings: ScriptStoreSettings): RateLimitStore {
  return new ScriptStore(runner, settings)
}

class ScriptStore implements RateLimitStore, SubmittingStore {
  readonly local = false
  readonly name: string
  /** The client, shared with any other store made from it (see COUNTER_SPACE). */
  readonly [COUNTER_SPACE]: object | undefined
  private readonly clock: (() => number) | undefined
  private lastNowMs = 0
  /** Per policy list: the script's policy argument and each key's tail after the digest. */
  private readonly lists = new WeakMap<readonly Policy[], { spec: string; tails: readonly string[] }>()
  private readonly maxBatch: number
  private readonly probeWhenStalled: boolean
  /** Decisions waiting for this tick's flush. */
  private queued: Batch | undefined
  /** Resets sent so far: a batch sent again after NOSCRIPT must not land after one of them. */
  private resets = 0
  /** The keys of recent resets, each with the count of resets when it was sent (bounded). */
  private readonly resetKeys = new Map<string, number>()
  /** Resets not answered yet, by key: a decision on their keys sent since keeps them from going again. */
  private readonly pendingResets = new Map<string, Set<PendingReset>>()
  /** Commands waiting to go again after TRYAGAIN: each timer, with what to do if the store closes. */
  private readonly retries = new Map<ReturnType<typeof setTimeout>, () => void>()
  /** Set by `close()`: a TRYAGAIN answered after it is not sent again. */
  private closed = false
  /** This store in {@link storesOfClient}, when it has a client to share. */
  private self: WeakRef<ScriptStore> | undefined
  private tickQueued = false
  /** Set until the first decision or reset: the client warning's `console` fallback. */
  private firstUse: (() => void) | undefined
  private readonly replyTimeoutMs: number | undefined
  /** Commands handed to the client whose promise has not settled, on every connection. */
  private outstanding = 0
  /** The connection's silence (the one of a store not on a Cluster). */
  private readonly silence = new Silence()
  /**
   * On a Cluster: the silence of each node (`host:port`), or of a hash slot whose node the client
   * does not tell; bounded by the nodes seen and the 16,384 slots.
   */
  private readonly slotSilences: Map<number | string, Silence> | undefined
  /** The silences with commands waiting: the ones the watchdog looks at. */
  private readonly waiting = new Set<Silence>()
  private watchdog: ReturnType<typeof setInterval> | undefined
  /** The `setInterval` that set `watchdog`, and the `clearInterval` beside it. */
  private watchdogArmedWith: typeof setInterval | undefined
  private clearWatchdog: typeof clearInterval = clearInterval
  /** The client's own timeout on a command, ms from each time it is handed over. */
  private readonly commandTimeoutMs: number | undefined
  private readonly socketTimeoutMs: number | undefined
  private readonly socketTimeoutFromWrite: boolean
  /** `realNow()` of the last reply, the send of the last command sent, and of the last answered. */
  private repliedAt = 0
  private lastSentAt = 0
  private repliedUpTo = 0
  /** On a Cluster: the last offset learned on any slot, the first estimate of a slot not seen yet. */
  private lastOffsetMs: number | undefined
  /** The server's clock, learned from replies (the one for a store not on a Cluster). */
  private readonly serverClock = new ServerClock()
  /** On a Cluster: the server's clock per hash slot, learned from that slot's replies. */
  private readonly slotClocks: Map<number, ServerClock> | undefined

  constructor(
    private readonly runner: ScriptRunner,
    settings: ScriptStoreSettings,
  ) {
    this[COUNTER_SPACE] = settings.counterSpace
    if (settings.counterSpace !== undefined) {
      let stores = storesOfClient.get(settings.counterSpace)
      if (stores === undefined) {
        stores = new Set()
        storesOfClient.set(settings.counterSpace, stores)
      }
      // Stores made and dropped without close() (one per request, say) leave dead refs: swept as
      // the set grows, so it stays the size of the stores alive.
      if (stores.size >= 64 && (stores.size & (stores.size - 1)) === 0) {
        for (const ref of stores) if (ref.deref() === undefined) stores.delete(ref)
      }
      this.self = new WeakRef(this)
      stores.add(this.self)
    }
    const warning = settings.clientWarning
    if (warning !== undefined) {
      this.firstUse = warnOfClient(
        this,
        warning.client,
        warning.logger,
        WARNING_CODES.CLIENT_SETTINGS,
        warning.message,
      )
    }
    this.name = settings.name
    this.clock = settings.clock
    this.maxBatch = settings.maxBatch
    this.probeWhenStalled = settings.probeWhenStalled ?? false
    this.replyTimeoutMs = settings.replyTimeoutMs
    this.commandTimeoutMs = settings.commandTimeoutMs
    this.socketTimeoutMs = settings.socketTimeoutMs
    this.socketTimeoutFromWrite = settings.socketTimeoutFromWrite ?? false
    this.slotClocks = settings.clockPerSlot === true ? new Map() : undefined
    this.slotSilences = settings.clockPerSlot === true ? new Map() : undefined
  }

  private usedFirst(): void {
    const firstUse = this.firstUse
    this.firstUse = undefined
    firstUse?.()
  }

  /** Commands handed to the client whose promise it has not settled: a diagnostic, for tests. */
  get commandsHeld(): number {
    return this.outstanding
  }

  consume(request: StoreRequest): Promise<StoreResponse> {
    return new Promise<StoreResponse>((resolve, reject) => {
      const { prefix, id, policies, cost, peek } = request
      this[SUBMIT](prefix, id, policies, cost, peek, {
        respond: (reply, at, nowMs) => {
          try {
            resolve(decodeOutcomes(reply, at, policies.length, nowMs))
          } catch (error) {
            reject(error)
          }
        },
        fail: reject,
      })
    })
  }

  /**
   * Queues the decision into this tick's batch (sent by a promise job, or at once when the
   * batch is full, when the injected clock moved or the call's deadline differs from the batch's,
   * or with `maxBatch` 1). Refusals (client not
   * connected, Redis silent) throw here, so nothing waits on a call that will not be answered.
   */
  [SUBMIT](
    prefix: string,
    id: string,
    policies: readonly Policy[],
    cost: number,
    peek: boolean,
    call: QueuedCall,
  ): void {
    if (this.firstUse !== undefined) this.usedFirst()
    const list = this.listOf(policies)
    this.runner.assertReady?.()
    const tag = cachedDigest(id)
    // On a Cluster, the hash slot (its node) the call goes to: 0 elsewhere, unused.
    const slot = this.slotSilences === undefined ? 0 : clusterSlot(tag)
    const silence = this.slotSilences === undefined ? this.silence : this.slotSilence(slot)
    this.refuseIfStalled(silence, true)
    const nowArg = this.clock === undefined ? '' : this.injectedNowMs()
    const atMs = call.atMs ?? 0
    let batch = this.queued
    // One deadline per script call: a call whose deadline differs (another limiter's `timeout`, a
    // long synchronous stretch since the batch began) starts a batch of its own, so that no call is
    // skipped for another's deadline.
    if (batch !== undefined && (batch.args[0] !== nowArg || Math.abs(atMs - batch.atMs) > 1)) {
      this.flush()
      batch = undefined
    }
    if (batch === undefined) {
      const slack = this.clock === undefined ? '' : SLACK
      batch = {
        keys: [],
        args: [nowArg, slack, '0'],
        spec: '',
        calls: [],
        counts: [],
        answered: false,
        replyTimer: undefined,
        resetsBefore: 0,
        atMs,
        flushedAt: 0,
        sentAt: 0,
        deadline: Number.POSITIVE_INFINITY,
        strictDeadline: Number.POSITIVE_INFINITY,
        resent: false,
        tryAgainSince: 0,
        clock: this.slotClocks === undefined ? this.serverClock : this.slotClock(slot),
        silence,
      }
      this.queued = batch
    }
    const head = `${prefix}:{${tag}`
    for (const tail of list.tails) batch.keys.push(head + tail)
    if (cost === 1 && !peek && list.spec === batch.spec) batch.args.push('1')
    else {
      const request = peek ? `${cost}p` : String(cost)
      batch.args.push(list.spec === batch.spec ? request : `${request}:${list.spec}`)
      batch.spec = list.spec
    }
    batch.calls.push(call)
    batch.counts.push(policies.length)
    if (batch.calls.length >= this.maxBatch) this.flush()
    else if (!this.tickQueued) {
      this.tickQueued = true
      // A promise job, not process.nextTick: Jest's default fake timers fake nextTick (and
      // queueMicrotask), and a flush that never runs would hold every later decision of the store.
      // Promise jobs run at the same point of the loop, and nothing can fake them.
      PROMISE_JOB.then(this.flushQueued)
    }
  }

  /**
   * Throws when `silence`'s connection is taken for silent (see STALL_MS), but for a decision that
   * goes as a probe (`probeWhenStalled`): only a decision's answer ends the stall.
   */
  private refuseIfStalled(silence: Silence, mayProbe: boolean): void {
    if (!silence.stalled || (mayProbe && this.probing(silence))) return
    throw new FloodgateError(
      ERROR_CODES.STORE_ERROR,
      this.probeWhenStalled
        ? `Upstash has answered none of the requests sent since its last answer for over ${STALL_MS} ms; the ${this.name} store fails calls while it sends one request a second to find out, and answers again from the first reply.`
        : `${this.slotSilences !== undefined ? "The Redis node of this identifier's hash slot" : 'Redis'} has answered none of the ${silence.outstanding} commands waiting for over ${STALL_MS} ms; the ${this.name} store sends it nothing more until the client lets go of them.`,
    )
  }

  private readonly flushQueued = (): void => {
    this.tickQueued = false
    this.flush()
  }

  /** Sends the queued batch as one EVALSHA; EVAL only when Redis says it lacks the script. */
  private flush(): void {
    const batch = this.queued
    if (batch === undefined) return
    this.queued = undefined
    batch.resetsBefore = this.resets
    batch.flushedAt = realNow()
    if (this.replyTimeoutMs !== undefined) {
      batch.replyTimer = setTimeout(() => afterPendingIo(() => this.timedOut(batch)), this.replyTimeoutMs)
      batch.replyTimer.unref?.()
    }
    this.dispatch(batch, batch.flushedAt)
  }

  /** Hands the batch to the client, with its deadline as of `now` (`realNow()`). */
  private dispatch(batch: Batch, now: number): void {
    batch.sentAt = now
    batch.args[2] = this.deadlineOf(batch)
    this.run(batch, false)
  }

  /** Sends the batch's script by its hash, or by its source once Redis said it lacks it. */
  private run(batch: Batch, source: boolean): void {
    const { keys, args } = batch
    if (this.pendingResets.size > 0) this.overtake(keys)
    const sent = this.send(batch, () =>
      source ? this.runner.eval(DECIDE_SCRIPT, keys, args) : this.runner.evalsha(DECIDE_SHA1, keys, args),
    )
    sent?.then(
      (reply) => this.deliver(batch, reply),
      (error: unknown) => {
        // Redis ran nothing on TRYAGAIN (a Cluster slot moving) or NOSCRIPT (a restart, SCRIPT
        // FLUSH: the source goes then), so sending again is safe.
        if (isTryAgain(error)) this.tryAgain(batch, source, error)
        else if (!source && isNoScript(error)) this.resend(batch, true, error)
        else this.fail(batch, error)
      },
    )
  }

  /**
   * Sends the batch again after Redis ran none of it (NOSCRIPT, TRYAGAIN), unless nobody waits for
   * it any more or a reset of its keys was sent since.
   */
  private resend(batch: Batch, source: boolean, error: unknown): void {
    // The reply timeout answered the calls as failed already: nothing is sent.
    if (batch.answered) return
    if (settledAll(batch.calls)) {
      // Every call answered already (its deadline passed): nobody waits for the command, which
      // could only count them.
      this.fail(batch, error)
    } else if (this.resetSince(batch)) {
      // A reset sent since would run before the command and leave this decision's count standing:
      // Redis ran nothing, so answering the calls as failed keeps every call in its order.
      this.fail(batch, notResent(this.name, isTryAgain(error)))
    } else {
      // A new command: its own deadline, counted from now.
      batch.sentAt = realNow()
      batch.args[2] = this.deadlineOf(batch)
      this.run(batch, source)
    }
  }

  /**
   * Redis answered TRYAGAIN (a Cluster slot moving, the batch's keys split between its two nodes)
   * and ran nothing: the same command goes again after TRYAGAIN_DELAY_MS, until the batch's
   * deadline. Node-redis passes TRYAGAIN on; ioredis sends the command again itself.
   */
  private tryAgain(batch: Batch, source: boolean, error: unknown): void {
    const now = realNow()
    if (batch.tryAgainSince === 0) batch.tryAgainSince = now
    const until = Math.min(batch.strictDeadline, batch.tryAgainSince + TRYAGAIN_FOR_MS)
    if (now >= until) {
      this.fail(batch, error)
      return
    }
    this.later(
      Math.min(TRYAGAIN_DELAY_MS, until - now),
      () => (realNow() >= until ? this.fail(batch, error) : this.resend(batch, source, error)),
      () => this.fail(batch, closedWhileRetrying(this.name)),
    )
  }

  /** Runs `then` after `ms`, or `closed` if the store is closed first. */
  private later(ms: number, then: () => void, closed: () => void): void {
    if (this.closed) {
      closed()
      return
    }
    const timer = setTimeout(() => {
      this.retries.delete(timer)
      then()
    }, ms)
    // Unref'd: it never keeps the process alive (the caller's own deadline answers its calls).
    timer.unref?.()
    this.retries.set(timer, closed)
  }

  /**
   * Hands one command to the client and keeps count of it until its promise settles. Undefined when
   * the client threw (the batch has failed).
   */
  private send(batch: Batch, command: () => Promise<unknown>): Promise<unknown> | undefined {
    let sent: Promise<unknown>
    try {
      sent = awaitable(command())
    } catch (error) {
      this.fail(batch, error)
      return undefined
    }
    const { silence } = batch
    if (silence.outstanding === 0) {
      silence.heardAtMs = performance.now()
      this.waiting.add(silence)
      this.watch()
    } else if (this.probeWhenStalled && silence.sentSinceHeard <= 1) {
      // Upstash: a request lost before the last answer says nothing of this one, and one lost
      // alone says nothing of the next: silence is timed from the second request sent since the
      // last answer. On one Redis connection, which answers in order, the oldest command binds.
      silence.heardAtMs = performance.now()
    }
    silence.sentSinceHeard++
    silence.outstanding++
    this.outstanding++
    const sentAt = batch.sentAt
    if (sentAt > this.lastSentAt) this.lastSentAt = sentAt
    return sent.then(
      (reply) => {
        silence.outstanding--
        this.outstanding--
        this.heard(silence, sentAt)
        return reply
      },
      (error: unknown) => {
        silence.outstanding--
        this.outstanding--
        if (!isTimeout(error)) this.heard(silence, sentAt)
        throw error
      },
    )
  }

  private deliver(batch: Batch, reply: unknown): void {
    const { calls, counts } = batch
    let policyCount = 0
    for (const count of counts) policyCount += count
    // Under an injected clock, the server's time follows the outcomes.
    const injected = this.clock !== undefined
    const length = 1 + 4 * policyCount + (injected ? 1 : 0)
    if (Array.isArray(reply)) {
      if (reply.length === length) {
        batch.clock.observe(Number(reply[injected ? length - 1 : 0]), batch.sentAt)
        if (this.slotClocks !== undefined) this.lastOffsetMs = batch.clock.offsetMs
      } else if (reply.length === 2 && Number(reply[0]) === -1) {
        this.skipped(batch, Number(reply[1]))
        return
      }
    }
    if (!this.answer(batch)) return
    if (!Array.isArray(reply) || reply.length !== length) {
      const error = new FloodgateError(
        ERROR_CODES.STORE_ERROR,
        `The decision script answered ${JSON.stringify(reply)?.slice(0, 80)}; expected ${length} integers. Is another program writing Floodgate's keys?`,
      )
      for (const call of calls) call.fail(error)
      return
    }
    const nowMs = Number(reply[0])
    let at = 1
    for (let i = 0; i < calls.length; i++) {
      const count = counts[i]!
      calls[i]!.respond(reply, at, nowMs)
      at += 4 * count
    }
  }

  /**
   * Redis ran the batch at or past its deadline, on its clock, and counted nothing. Past the
   * deadline on this process's clock too, its calls are failures (answered so already, as a rule).
   * Before it, the server's clock moved forward since it was learned: learn it again, and send the
   * batch once more (Redis ran none of it), unless a reset of its keys was sent since.
   */
  private skipped(batch: Batch, serverMs: number): void {
    if (batch.answered) return
    const now = realNow()
    if (now < batch.deadline) batch.clock.relearn(serverMs, batch.sentAt)
    // Before the deadline, or past it only by the socket timeout's, which cannot have fired: this
    // reply came on the socket.
    if (now < batch.strictDeadline && !batch.resent && !this.resetSince(batch)) {
      batch.resent = true
      this.dispatch(batch, now)
      return
    }
    this.fail(batch, tooLate(this.name))
  }

  /**
   * The batch's deadline on the Redis server's clock, for the script (sets `batch.deadline`): the
   * earliest of its calls' deadline (they are within 1 ms of each other), the client's own timeout
   * on this command and the store's reply timeout; '0' (none) before any reply has given the
   * server's clock, and under fake timers, where no deadline passes in real time.
   */
  private deadlineOf(batch: Batch): string {
    batch.deadline = Number.POSITIVE_INFINITY
    if (!timersAreReal()) return '0'
    let deadline = Number.POSITIVE_INFINITY
    // The calls' deadline is on the limiter's clock (`performance.now()`): what is left of it,
    // counted from now on the real clock.
    if (batch.atMs > 0) deadline = batch.sentAt + (batch.atMs - performance.now())
    if (this.commandTimeoutMs !== undefined)
      deadline = Math.min(deadline, batch.sentAt + this.commandTimeoutMs)
    if (this.replyTimeoutMs !== undefined)
      deadline = Math.min(deadline, batch.flushedAt + this.replyTimeoutMs)
    batch.strictDeadline = deadline
    if (this.socketTimeoutMs !== undefined) {
      // node-redis's runs from the last write, this one. ioredis's from the last data received
      // while commands wait: while any of the store's does, no later than its last reply.
      const from =
        this.socketTimeoutFromWrite || this.lastSentAt <= this.repliedUpTo ? batch.sentAt : this.repliedAt
      deadline = Math.min(deadline, from + this.socketTimeoutMs)
    }
    batch.deadline = deadline
    return String(batch.clock.serverTime(deadline))
  }

  /** The silence of the node that holds a Cluster hash slot (of the slot, where the client does not say). */
  private slotSilence(slot: number): Silence {
    const node = this.runner.nodeOf?.(slot) ?? slot
    let silence = this.slotSilences!.get(node)
    if (silence === undefined) {
      silence = new Silence()
      this.slotSilences!.set(node, silence)
    }
    return silence
  }

  /** The server's clock learned for one Cluster hash slot (the node that holds it). */
  private slotClock(slot: number): ServerClock {
    let clock = this.slotClocks!.get(slot)
    if (clock === undefined) {
      clock = new ServerClock()
      // Another node's clock until this slot's first reply: an upper bound for the nodes seen so
      // far, and a node whose clock runs ahead has its calls sent again (`skipped`).
      clock.seed(this.lastOffsetMs)
      this.slotClocks!.set(slot, clock)
    }
    return clock
  }

  private fail(batch: Batch, error: unknown): void {
    if (!this.answer(batch)) return
    const reason = asTimeout(this.runner.explain?.(error) ?? error, this.name)
    for (const call of batch.calls) call.fail(reason)
  }

  /** The reply timeout: the calls fail now; the command stays with the client until it lets go. */
  private timedOut(batch: Batch): void {
    this.fail(
      batch,
      new FloodgateError(
        ERROR_CODES.STORE_TIMEOUT,
        `Redis did not answer the ${this.name} store within ${this.replyTimeoutMs} ms (the client's command timeout).`,
      ),
    )
  }

  /** Marks the batch answered; false when it already was (a late reply after the reply timeout). */
  private answer(batch: Batch): boolean {
    if (batch.answered) return false
    batch.answered = true
    if (batch.replyTimer !== undefined) clearTimeout(batch.replyTimer)
    return true
  }

  async reset(request: StoreResetRequest): Promise<void> {
    if (this.firstUse !== undefined) this.usedFirst()
    if (request.policies.length === 0) return
    this.runner.assertReady?.()
    // A silent connection gets no DEL either: each one written would keep a client whose socket
    // timeout runs from the last write (node-redis) from ever letting go of what it holds. Nor
    // does a reset take a decision's probe.
    this.refuseIfStalled(
      this.slotSilences === undefined
        ? this.silence
        : this.slotSilence(clusterSlot(cachedDigest(request.id))),
      false,
    )
    // Decisions queued before this reset go first, so Redis sees calls in the order they were made:
    // those queued on other stores of the same client too.
    this.flushSiblings()
    this.flush()
    const keys = counterKeys(request.prefix, request.id, request.policies)
    this.resets++
    if (this.resetKeys.size + keys.length > MAX_RESET_KEYS) this.resetKeys.clear()
    for (const key of keys) this.resetKeys.set(key, this.resets)
    const reset: PendingReset = { keys, overtaken: false }
    for (const key of keys) {
      const resets = this.pendingResets.get(key)
      if (resets === undefined) this.pendingResets.set(key, new Set([reset]))
      else resets.add(reset)
    }
    try {
      await this.deleteKeys(reset)
    } finally {
      for (const key of keys) {
        const resets = this.pendingResets.get(key)
        resets?.delete(reset)
        if (resets?.size === 0) this.pendingResets.delete(key)
      }
    }
  }

  /**
   * A reset's DEL (every key of one identifier shares a hash tag, so one DEL works on a Cluster
   * too), sent again after TRYAGAIN like a decision, within the client's reply timeout or
   * TRYAGAIN_FOR_MS; but not once a decision on its keys went out after it: a decision made after
   * a reset must count, and the DEL sent again could run after it.
   */
  private async deleteKeys(reset: PendingReset): Promise<void> {
    const until = realNow() + (this.replyTimeoutMs ?? TRYAGAIN_FOR_MS)
    for (;;) {
      try {
        await awaitable(this.runner.del(reset.keys))
        return
      } catch (error) {
        if (!isTryAgain(error) || reset.overtaken || realNow() >= until)
          throw this.runner.explain?.(error) ?? error
        await new Promise<void>((resolve, reject) => {
          this.later(Math.min(TRYAGAIN_DELAY_MS, until - realNow()), resolve, () =>
            reject(closedWhileRetrying(this.name)),
          )
        })
        if (reset.overtaken || realNow() >= until) throw error
      }
    }
  }

  /**
   * Marks the pending resets of any of these keys as overtaken by a decision sent after them: a
   * lookup per key, whatever the number of resets pending on other keys.
   */
  private overtake(keys: readonly string[]): void {
    for (const key of keys) {
      const resets = this.pendingResets.get(key)
      if (resets !== undefined) for (const reset of resets) reset.overtaken = true
    }
  }

  /** Whether a reset of one of the batch's keys was sent after the batch. */
  private resetSince(batch: Batch): boolean {
    if (this.resets === batch.resetsBefore) return false
    for (const key of batch.keys) if ((this.resetKeys.get(key) ?? 0) > batch.resetsBefore) return true
    return false
  }

  close(): void {
    // The client belongs to the caller: closing it is theirs to do. What was queued goes now: once
    // off its client's list of stores, it would no longer go before a reset made on another store
    // of the client in this tick.
    this.flush()
    this.stopWatching()
    this.closed = true
    if (this.self !== undefined) storesOfClient.get(this[COUNTER_SPACE]!)?.delete(this.self)
    // Nothing goes again once closed: the calls waiting to fail now rather than at their deadline.
    const retries = [...this.retries]
    this.retries.clear()
    for (const [timer, closed] of retries) {
      clearTimeout(timer)
      closed()
    }
  }

  /** Sends what the other open stores of this store's client have queued (see storesOfClient). */
  private flushSiblings(): void {
    const stores = this.self === undefined ? undefined : storesOfClient.get(this[COUNTER_SPACE]!)
    if (stores === undefined || stores.size < 2) return
    for (const ref of stores) {
      const store = ref.deref()
      if (store === undefined) stores.delete(ref)
      else if (store !== this) store.flush()
    }
  }

  private heard(silence: Silence, sentAt: number): void {
    if (this.socketTimeoutMs !== undefined) {
      this.repliedAt = realNow()
      if (sentAt > this.repliedUpTo) this.repliedUpTo = sentAt
    }
    silence.heardAtMs = performance.now()
    silence.sentSinceHeard = 0
    silence.stalled = false
  }

  private watch(): void {
    if (this.watchdog !== undefined) {
      if (this.watchdogArmedWith === globalThis.setInterval) return
      // Set under a test's fake timers that are gone now (it never fires again), an earlier
      // test's fakes, or the reverse.
      this.clearWatchdog(this.watchdog)
    }
    // Timers run before the poll phase; setImmediate runs after it, once every reply that arrived
    // while the loop was busy has been read. Unref'd: it never keeps the process alive. The
    // setImmediate of the same moment as the setInterval: a real watchdog that fires while a later
    // test's fakes are installed must not leave a timer on that test's fake clock.
    const look = globalThis.setImmediate
    this.watchdogArmedWith = globalThis.setInterval
    this.clearWatchdog = globalThis.clearInterval
    this.watchdog = globalThis.setInterval(() => look(() => this.inspect()), WATCH_EVERY_MS)
    this.watchdog.unref?.()
  }

  private inspect(): void {
    const now = performance.now()
    for (const silence of this.waiting) {
      if (silence.outstanding === 0) {
        silence.stalled = false
        this.waiting.delete(silence)
        continue
      }
      // Independent requests (`probeWhenStalled`): silent only while two sent since the last
      // answer wait (see `sentSinceHeard`); a quiet spell with an old request still out is not.
      const stalled =
        now - silence.heardAtMs > STALL_MS && (!this.probeWhenStalled || silence.sentSinceHeard >= 2)
      if (stalled && !silence.stalled) silence.probedAtMs = now
      silence.stalled = stalled
    }
    if (this.waiting.size === 0) this.stopWatching()
  }

  /** Whether a call may go out while stalled: one per STALL_MS, where `probeWhenStalled`. */
  private probing(silence: Silence): boolean {
    if (!this.probeWhenStalled) return false
    const now = performance.now()
    if (now - silence.probedAtMs < STALL_MS) return false
    silence.probedAtMs = now
    return true
  }

  private stopWatching(): void {
    if (this.watchdog !== undefined) this.clearWatchdog(this.watchdog)
    this.watchdog = undefined
    for (const silence of this.waiting) silence.stalled = false
    this.waiting.clear()
  }

  private injectedNowMs(): string {
    const now = epochMs(this.clock!(), this.name)
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
      list = { spec, tails: policies.map((p) => `}:${counterName(p)}`) }
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
  if (!isTimeout(error) || error instanceof FloodgateError) return error
  return new FloodgateError(
    ERROR_CODES.STORE_TIMEOUT,
    `The ${store} store's client gave up waiting for Redis: ${error.message || error.name}`,
    { cause: error },
  )
}

/** A client's timeout error (not an answer from Redis). */
function isTimeout(error: unknown): error is Error {
  if (!(error instanceof Error)) return false
  if (error instanceof FloodgateError) return error.code === ERROR_CODES.STORE_TIMEOUT
  return (
    error.name === 'TimeoutError' ||
    /^(Socket timeout|Command timed out)/.test(error.message) ||
    error.constructor.name === 'SocketTimeoutError'
  )
}

/** Whether every call is known to be answered already. */
function settledAll(calls: readonly QueuedCall[]): boolean {
  for (const call of calls) if (call.settled !== true) return false
  return true
}

/** The failure of a batch that reached Redis past its deadline, so was not run. */
function tooLate(storeName: string): FloodgateError {
  return new FloodgateError(
    ERROR_CODES.STORE_TIMEOUT,
    `The ${storeName} store's decision reached Redis after its deadline; Redis counted nothing.`,
  )
}

/** True for Redis's NOSCRIPT reply, however the client wraps it. */
export function isNoScript(error: unknown): boolean {
  return error instanceof Error && /noscript/i.test(error.message)
}

/**
 * One decision's outcomes from the script's flat integer reply, starting at `at`: per policy
 * allowed, remaining, resetAtMs - nowMs and retryAfterMs, where -1 stands for an infinite
 * retryAfterMs.
 */
function decodeOutcomes(
  reply: readonly unknown[],
  at: number,
  policyCount: number,
  nowMs: number,
): StoreResponse {
  const outcomes = new Array<PolicyOutcome>(policyCount)
  for (let i = 0; i < policyCount; i++) {
    const outcome = { allowed: false, remaining: 0, resetAtMs: 0, retryAfterMs: 0 }
    readOutcome(reply, at + 4 * i, nowMs, outcome)
    outcomes[i] = outcome
  }
  return { nowMs, outcomes }
}

/**
 * Reset keys remembered for the NOSCRIPT check; past this many they are forgotten at once (a batch
 * in flight then may run after a reset of its keys: its count survives the reset, nothing worse).
 */
export const MAX_RESET_KEYS = 10_000

/**
 * The failure of a batch that Redis refused with NOSCRIPT or TRYAGAIN (running nothing) after a
 * reset of its keys was sent.
 */
function notResent(storeName: string, tryAgain: boolean): FloodgateError {
  const refusal = tryAgain
    ? "Redis answered TRYAGAIN (the identifier's Cluster hash slot was being moved)"
    : 'Redis had lost the decision script (a restart or SCRIPT FLUSH)'
  return new FloodgateError(
    ERROR_CODES.STORE_ERROR,
    `${refusal} and a reset was sent after the decision: the ${storeName} store did not run it again, so that it cannot count after the reset.`,
  )
}

/** A reset not answered yet, for the decisions sent after it. */
interface PendingReset {
  keys: string[]
  /** Set once a decision on one of its keys was sent after it. */
  overtaken: boolean
}

/** True for Redis's TRYAGAIN reply (a Cluster slot moving; Redis ran nothing). */
function isTryAgain(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('TRYAGAIN')
}

/** The failure of a call that waited to go again after TRYAGAIN when the store was closed. */
function closedWhileRetrying(storeName: string): FloodgateError {
  return new FloodgateError(
    ERROR_CODES.STORE_ERROR,
    `The ${storeName} store was closed while a call waited to be sent again (Redis had answered TRYAGAIN).`,
  )
}

/**
 * A client command's promise, or a TypeError when the client answered with something else (a
 * callback-style client returns nothing): the call fails as a store error instead of never
 * settling, or a reset resolving without having deleted anything.
 */
function awaitable(value: Promise<unknown>): Promise<unknown> {
  if (typeof (value as { then?: unknown } | null | undefined)?.then === 'function') return value
  throw new TypeError(
    `The Redis client returned ${value === null ? 'null' : typeof value} instead of a promise.`,
  )
}
