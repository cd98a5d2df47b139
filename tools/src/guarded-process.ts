import { type ChildProcess, spawn } from 'node:child_process'
import type { Socket } from 'node:net'

const OUTPUT_LIMIT_CHARS = 8_192
const live = new Set<ChildProcess>()
let exitHookInstalled = false

/** A child process that cannot outlive this one, stopped by its PID. */
export interface GuardedProcess {
  readonly pid: number
  /** True once the child has exited. */
  readonly exited: boolean
  /** Resolves when the child has exited, however that happened. */
  readonly exit: Promise<void>
  /** The last few kilobytes of stdout and stderr, for error messages. */
  output(): string
  /** SIGTERM, then SIGKILL if it is still alive after `graceMs`. */
  stop(graceMs?: number): Promise<void>
}

export function spawnGuarded(command: string, args: readonly string[], cwd: string): GuardedProcess {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT_CHARS)
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  let exited = false
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true
      live.delete(child)
      resolve()
    })
    child.once('error', (error) => {
      collect(Buffer.from(`\n${error.message}\n`))
      exited = true
      live.delete(child)
      resolve()
    })
  })
  // A test that forgets stop() must not keep its worker alive: the guards below clean up instead.
  child.unref()
  ;(child.stdout as Socket | null)?.unref()
  ;(child.stderr as Socket | null)?.unref()
  const pid = child.pid
  if (pid === undefined) {
    return {
      pid: -1,
      exited: true,
      exit: Promise.resolve(),
      output: () => `failed to spawn ${command}`,
      stop: async () => {},
    }
  }
  live.add(child)
  installExitHook()
  const watchdog = startWatchdog(pid)
  void exit.then(() => killQuietly(watchdog?.pid, 'SIGKILL'))

  return {
    pid,
    get exited() {
      return exited
    },
    exit,
    output: () => output,
    async stop(graceMs = 5_000) {
      if (exited) return
      killQuietly(pid, 'SIGTERM')
      if (await settlesWithin(exit, graceMs)) return
      killQuietly(pid, 'SIGKILL')
      if (!(await settlesWithin(exit, 5_000))) throw new Error(`process ${pid} survived SIGKILL for 5 s`)
    },
  }
}

/**
 * A detached `sh` blocked reading a pipe from this process. The kernel closes the pipe when this
 * process dies in any way (SIGKILL included, which no 'exit' handler sees); `read` then returns
 * and the watchdog kills the child. It costs no polling.
 */
function startWatchdog(pid: number): ChildProcess | undefined {
  try {
    const watchdog = spawn(
      '/bin/sh',
      ['-c', 'read _line; kill -KILL "$1" 2>/dev/null', 'floodgate-watchdog', String(pid)],
      {
        stdio: ['pipe', 'ignore', 'ignore'],
        detached: true,
      },
    )
    watchdog.on('error', () => {})
    watchdog.unref()
    ;(watchdog.stdin as unknown as Socket | null)?.unref()
    return watchdog
  } catch {
    return undefined
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const child of live) killQuietly(child.pid, 'SIGKILL')
  })
}

function killQuietly(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return
  try {
    process.kill(pid, signal)
  } catch {
    // Already gone.
  }
}

async function settlesWithin(promise: Promise<void>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs)
  })
  const settled = await Promise.race([promise.then(() => true as const), timeout])
  clearTimeout(timer)
  return settled
}

/** True while a process with this PID exists (signal 0 probes without sending anything). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
