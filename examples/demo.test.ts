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
      expect(section).toContain('headers of the first limited response:')
      expect(section).toMatch(/ retry-after: +[1-9]\d*\n/)
      expect(section).toMatch(/ ratelimit-policy: +"api";q=5;w=60\n/)
      expect(section).toMatch(/ x-ratelimit-remaining: +0\n/)
      expect(stdout).toMatch(new RegExp(`\\| ${name} +\\| +5 \\| +3 \\|`))
    }
  }, 60_000)
})
