// The parent side of the HTTP benchmark: starts a server in a child process, drives load at it with
// autocannon from this process, and reads back the CPU time the server spent.
import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { type Framework, ROUTE, type ServerMode, type Variant } from './http-apps.js'
import type { ChildMessage, ParentMessage } from './http-protocol.js'

const SERVER_FILE = fileURLToPath(new URL('./http-server.ts', import.meta.url))
const READY_TIMEOUT_MS = 30_000

/** One measured round against one server. */
export interface Sample {
  requestsPerSecond: number
  /** Server CPU time (user + system) per request received, in µs, measured in the server process. */
  cpuMicrosPerRequest: number
  /** The kernel's share of it (system time): mostly the socket writes, which grow with the response. */
  systemMicrosPerRequest: number
  /** On a `switch-timed` server, the variant's own time per request it handed on, in µs (else NaN). */
  ownMicrosPerRequest: number
  /** Responses by status code, as the load generator saw them. */
  statuses: Record<string, number>
  /** Connection errors and timeouts seen by the load generator. */
  errors: number
}

export interface LoadOptions {
  connections: number
  durationSeconds: number
}

/** A benchmark server running in its own process. */
export class ServerProcess {
  /** The path loaded: the route, or on a switchable server the selected variant's. */
  private path = ROUTE

  private constructor(
    readonly framework: Framework,
    /** The variant served, or `'switch'`/`'switch-timed'`: every variant, chosen by `select()`. */
    readonly variant: ServerMode,
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  /** `nodeOptions`: extra flags for the server's node, e.g. `--cpu-prof`. */
  static async start(
    framework: Framework,
    variant: ServerMode,
    nodeOptions: readonly string[] = [],
  ): Promise<ServerProcess> {
    const child = fork(SERVER_FILE, [framework, variant], {
      execArgv: ['--import', 'tsx', ...nodeOptions],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    try {
      const ready = await nextMessage(child, 'ready', READY_TIMEOUT_MS)
      return new ServerProcess(framework, variant, child, ready.port)
    } catch (error) {
      child.kill()
      throw error
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}${this.path}`
  }

  /** On a switchable server, serves `variant` from now on. */
  async select(variant: Variant): Promise<void> {
    this.send({ type: 'select', variant })
    this.path = (await nextMessage(this.child, 'selected', READY_TIMEOUT_MS)).path
  }

  /** Loads the server for `durationSeconds` and measures it. */
  async measure(options: LoadOptions): Promise<Sample> {
    this.send({ type: 'begin' })
    await nextMessage(this.child, 'begun', READY_TIMEOUT_MS)
    const result = await autocannon({
      url: this.url,
      connections: options.connections,
      duration: options.durationSeconds,
      sampleInt: 250,
    })
    this.send({ type: 'end' })
    const ended = await nextMessage(this.child, 'ended', READY_TIMEOUT_MS)
    const statuses: Record<string, number> = {}
    for (const [code, { count }] of Object.entries(result.statusCodeStats)) statuses[code] = count
    return {
      requestsPerSecond: result.requests.total / result.duration,
      cpuMicrosPerRequest: ended.requests === 0 ? Number.NaN : ended.cpuMicros / ended.requests,
      systemMicrosPerRequest: ended.requests === 0 ? Number.NaN : ended.systemMicros / ended.requests,
      ownMicrosPerRequest: ended.ownRequests === 0 ? Number.NaN : ended.ownMicros / ended.ownRequests,
      statuses,
      errors: result.errors + result.timeouts,
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = once(this.child, 'exit')
    this.child.disconnect()
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(timer)
  }

  private send(message: ParentMessage): void {
    this.child.send(message)
  }
}

/**
 * Rounds against switchable servers (`'switch'` or `'switch-timed'`), one started afresh every
 * round: each variant is warmed up with `warmUp`, then measured with `load` in an order rotated
 * every round, so that a slow phase of the shared machine hits every variant alike. Each variant's
 * samples come back in round order, so rounds pair up across variants.
 */
export async function measureSwitched(
  framework: Framework,
  mode: 'switch' | 'switch-timed',
  variants: readonly Variant[],
  rounds: number,
  warmUp: LoadOptions,
  load: LoadOptions,
): Promise<Map<Variant, Sample[]>> {
  const samples = new Map<Variant, Sample[]>(variants.map((v) => [v, []]))
  for (let r = 0; r < rounds; r++) {
    const server = await ServerProcess.start(framework, mode)
    try {
      for (const variant of variants) {
        await server.select(variant)
        await server.measure(warmUp)
      }
      for (let j = 0; j < variants.length; j++) {
        const variant = variants[(j + r) % variants.length]!
        await server.select(variant)
        samples.get(variant)!.push(await server.measure(load))
      }
    } finally {
      await server.stop()
    }
  }
  return samples
}

function nextMessage<T extends ChildMessage['type']>(
  child: ChildProcess,
  type: T,
  timeoutMs: number,
): Promise<Extract<ChildMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    const onMessage = (message: ChildMessage) => {
      if (message.type !== type) return
      cleanup()
      resolve(message as Extract<ChildMessage, { type: T }>)
    }
    const onExit = (code: number | null) => {
      cleanup()
      reject(new Error(`benchmark server exited (code ${code}) before sending "${type}"`))
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`benchmark server sent no "${type}" within ${timeoutMs} ms`))
    }, timeoutMs)
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}
