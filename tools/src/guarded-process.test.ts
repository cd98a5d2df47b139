import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { isProcessAlive } from './guarded-process.js'
import { describeRedisServer } from './vitest-redis.js'

const FIXTURE = fileURLToPath(new URL('./test-fixtures/redis-server-child.ts', import.meta.url))
const WORKSPACE_ROOT = fileURLToPath(new URL('../../', import.meta.url))

describeRedisServer('a redis-server started by a process that dies', () => {
  it('is killed when its parent is SIGKILLed (no exit handler runs)', async () => {
    const parent = spawnFixture([])
    const redisPid = await readRedisPid(parent)
    expect(isProcessAlive(redisPid)).toBe(true)
    parent.kill('SIGKILL')
    expect(await becomesDead(redisPid)).toBe(true)
  })

  it('is killed when its parent exits without stopping it', async () => {
    const parent = spawnFixture(['--exit'])
    const redisPid = await readRedisPid(parent)
    expect(await becomesDead(redisPid)).toBe(true)
  })
})

function spawnFixture(args: string[]) {
  return spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], {
    cwd: WORKSPACE_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
}

function readRedisPid(child: ReturnType<typeof spawnFixture>): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8')
      const line = output.split('\n').find((l) => l.startsWith('{'))
      if (line) resolve((JSON.parse(line) as { redisPid: number }).redisPid)
    })
    child.once('exit', (code) => reject(new Error(`fixture exited (${code}) before printing: ${output}`)))
  })
}

/** Bounded wait for real process teardown: polls for up to 5 s. */
async function becomesDead(pid: number): Promise<boolean> {
  const deadline = Date.now() + 5_000
  while (Date.now() < deadline) {
    if (!isProcessAlive(pid)) return true
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return !isProcessAlive(pid)
}
