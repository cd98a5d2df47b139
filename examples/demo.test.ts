import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** Runs `pnpm demo`'s command in a child process, as a user on a fresh clone would. */
function runDemo(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env }
    // The demo must pick the memory store even when the caller's environment points elsewhere.
    env.REDIS_URL = 'redis://127.0.0.1:1'
    execFile(
      process.execPath,
      ['--conditions=@floodgate/source', '--import', 'tsx', 'examples/demo.ts'],
      { cwd: ROOT, env, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? (error.code as number | null) : 0, stdout, stderr }),
    )
  })
}

describe('pnpm demo', () => {
  it('prints a table per framework with 5 admitted and 3 limited, then exits 0', async () => {
    const { code, stdout, stderr } = await runDemo()
    expect(stderr).toBe('')
    expect(code).toBe(0)
    for (const name of ['Express', 'Koa', 'Fastify']) {
      const section =
        stdout.split(`== ${name}: 8 requests to http://127.0.0.1:`)[1]?.split('\n\n== ')[0] ?? ''
      expect(section).toContain('admitted 5, limited 3')
      // One row per request: admitted with the quota counting down, then limited with a wait.
      for (let i = 1; i <= 5; i++) {
        expect(section).toMatch(new RegExp(`\\n +${i} +200 +"api";r=${5 - i};t=[1-9]\\d* +-\\n`))
      }
      for (let i = 6; i <= 8; i++) {
        expect(section).toMatch(new RegExp(`\\n +${i} +429 +"api";r=0;t=[1-9]\\d* +[1-9]\\d*\\n`))
      }
      expect(section).toContain('headers of the first limited response:')
      expect(section).toMatch(/ retry-after: +[1-9]\d*\n/)
      expect(section).toMatch(/ ratelimit-policy: +"api";q=5;w=60\n/)
      expect(section).toMatch(/ x-ratelimit-remaining: +0\n/)
      expect(stdout).toMatch(new RegExp(`\\| ${name} +\\| +5 \\| +3 \\|`))
    }
    // The same burst straight against the core: 5 admitted, then 3 denied, for each policy kind.
    // (The fixed window runs on the real clock: a burst that straddles a minute starts afresh.)
    const core = stdout.split('== Core only: limiter.limit() 8 times, capacity 5 ==\n')[1] ?? ''
    expect(core).toMatch(/\n {2}fixed-window {4}[✓✗]( [✓✗]){7}\n/)
    expect(core).toContain('\n  sliding-window  ✓ ✓ ✓ ✓ ✓ ✗ ✗ ✗\n')
    expect(core).toContain('\n  token-bucket    ✓ ✓ ✓ ✓ ✓ ✗ ✗ ✗\n')
  }, 60_000)
})
