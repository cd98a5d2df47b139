import { spawn } from 'node:child_process'

export interface RunOptions {
  cwd: string
  /** The child is killed (SIGKILL) after this many ms and the run fails. */
  timeoutMs: number
  env?: NodeJS.ProcessEnv
}

/** Runs a command to completion; rejects with its output when it fails or outlives `timeoutMs`. */
export function runCommand(command: string, args: readonly string[], options: RunOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, options.timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const line = `${command} ${args.join(' ')} (in ${options.cwd})`
      if (timedOut) reject(new Error(`${line} did not finish within ${options.timeoutMs} ms:\n${output}`))
      else if (code !== 0) reject(new Error(`${line} failed (${signal ?? `exit ${code}`}):\n${output}`))
      else resolve(output)
    })
  })
}
