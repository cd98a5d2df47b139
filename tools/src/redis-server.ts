import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FORBIDDEN_PORTS, findFreePort } from './free-port.js'
import { type GuardedProcess, spawnGuarded } from './guarded-process.js'
import { sendRespCommand } from './resp-command.js'

const HOST = '127.0.0.1'
const DEFAULT_START_TIMEOUT_MS = 10_000
const PORT_ATTEMPTS = 5

export interface StartRedisServerOptions {
  /** Extra redis-server arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[]
  /** A fixed port; by default a free loopback port is picked. */
  port?: number
  /** How long to wait for the server to answer; 10 s by default. */
  startTimeoutMs?: number
}

/** A private redis-server on loopback: no persistence, its own temp dir, stopped by PID. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  readonly host: string
  readonly port: number
  /** PID of the current redis-server process (changes on restart). */
  readonly pid: number
  /** SIGTERM, SIGKILL after 5 s; removes the temp dir. Safe to call twice. */
  stop(): Promise<void>
  /**
   * Stops the server and starts it again on the same port with no data (a "Redis restarted
   * empty"); a cluster node keeps its nodes.conf and so rejoins its cluster.
   */
  restart(): Promise<void>
}

export async function startRedisServer(options: StartRedisServerOptions = {}): Promise<RedisServer> {
  const extraArgs = options.args ?? []
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS
  const dir = await mkdtemp(join(tmpdir(), 'floodgate-redis-'))
  let child: GuardedProcess | undefined
  let port = options.port ?? 0
  try {
    for (let attempt = 1; child === undefined; attempt++) {
      port = options.port ?? (await findFreePort(HOST))
      try {
        child = await launch(port, dir, extraArgs, startTimeoutMs)
      } catch (error) {
        // Another process took the port between our probe and redis-server's bind: pick another.
        const retryable = error instanceof PortTakenError && options.port === undefined
        if (!retryable || attempt >= PORT_ATTEMPTS) throw error
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw error
  }
  return {
    url: `redis://${HOST}:${port}`,
    host: HOST,
    port,
    get pid() {
      return child?.pid ?? -1
    },
    async stop() {
      const stopping = child
      child = undefined
      await stopping?.stop()
      await rm(dir, { recursive: true, force: true })
    },
    async restart() {
      const stopping = child
      child = undefined
      await stopping?.stop()
      // Same dir, so a cluster node keeps its nodes.conf (its identity and slots), but no data.
      await mkdir(dir, { recursive: true })
      for (const dataFile of await readdir(dir)) {
        if (dataFile !== 'nodes.conf') await rm(join(dir, dataFile), { recursive: true, force: true })
      }
      for (let attempt = 1; child === undefined; attempt++) {
        try {
          child = await launch(port, dir, extraArgs, startTimeoutMs)
        } catch (error) {
          if (!(error instanceof PortTakenError) || attempt >= PORT_ATTEMPTS) throw error
          await new Promise((resolve) => setTimeout(resolve, 100 * attempt))
        }
      }
    },
  }
}

class PortTakenError extends Error {}

async function launch(
  port: number,
  dir: string,
  extraArgs: readonly string[],
  startTimeoutMs: number,
): Promise<GuardedProcess> {
  if (FORBIDDEN_PORTS.has(port))
    throw new Error(`port ${port} belongs to the machine's shared Redis; never use it`)
  // biome-ignore format: one flag and its value per line
  const args = [
    '--port', String(port),
    '--bind', HOST,
    '--save', '',
    '--appendonly', 'no',
    '--dir', dir,
    '--daemonize', 'no',
    '--logfile', '',
    '--loglevel', 'warning',
    // DEBUG SLEEP and friends let fault tests make this server slow; loopback only.
    '--enable-debug-command', 'local',
    ...extraArgs,
  ]
  const child = spawnGuarded('redis-server', args, dir)
  try {
    await waitUntilServing(port, child, startTimeoutMs)
    return child
  } catch (error) {
    await child.stop()
    throw error
  }
}

/**
 * Ready when the server on the port answers INFO with OUR pid: a PONG alone could come from
 * another engineer's redis-server that won the race for the port.
 */
async function waitUntilServing(port: number, child: GuardedProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    if (child.exited) {
      const output = child.output()
      if (/address already in use/i.test(output)) throw new PortTakenError(`port ${port} is taken: ${output}`)
      throw new Error(`redis-server exited during startup on port ${port}:\n${output}`)
    }
    try {
      const reply = await sendRespCommand(HOST, port, ['INFO', 'server'], 1_000)
      if (typeof reply === 'string') {
        const pid = Number(/process_id:(\d+)/.exec(reply)?.[1])
        if (pid === child.pid) return
        await child.stop()
        throw new PortTakenError(`port ${port} is served by another redis-server (pid ${pid})`)
      }
      lastError = reply
    } catch (error) {
      if (error instanceof PortTakenError) throw error
      lastError = error
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(
    `redis-server on port ${port} did not answer within ${timeoutMs} ms (${String(lastError)}):\n${child.output()}`,
  )
}
