import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const packageDir = fileURLToPath(new URL('../..', import.meta.url))

// The child creates a limiter on the default memory store, decides on many identifiers across
// every policy kind, and never closes it. It must exit by itself: no timer, no open handle.
const script = `
import { createRateLimiter, fixedWindow, slidingWindow, tokenBucket } from '@floodgate/core'
const limiter = createRateLimiter({
  policies: [
    fixedWindow({ name: 'f', limit: 5, window: '1 h' }),
    slidingWindow({ name: 's', limit: 5, window: '1 d' }),
    tokenBucket({ name: 't', capacity: 5, refillRate: 1, interval: '1 h' }),
  ],
})
for (let i = 0; i < 2000; i++) await limiter.limit('client-' + (i % 300))
const d = await limiter.limit('client-1')
console.log(JSON.stringify({ allowed: d.allowed, reason: d.reason }))
`

describe('memory store lifetime', () => {
  it('lets the process exit on its own without close()', async () => {
    const child = spawn(
      process.execPath,
      ['--conditions=@floodgate/source', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: packageDir, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => {
      stdout += chunk
    })
    child.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    // A bounded wait for a real process; a kept-alive child is killed and reported.
    const code = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        resolve('still running after 15 s')
      }, 15_000)
      child.on('exit', (exitCode, signal) => {
        clearTimeout(timer)
        resolve(exitCode ?? String(signal))
      })
    })
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
    expect(JSON.parse(stdout)).toEqual({ allowed: false, reason: 'limited' })
  }, 30_000)
})
