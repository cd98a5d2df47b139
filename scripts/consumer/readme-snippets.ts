// The README's per-framework snippets, run as a new user would paste them: each ```ts block under
// "**Express**", "**Koa**" and "**Fastify**" is written verbatim into the consumer app (only the
// port 3000 is swapped for a free one) and must answer with Floodgate's headers.
import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { tsBlocks } from '../docs/code-blocks.js'

const FRAMEWORKS = ['Express', 'Koa', 'Fastify'] as const

/** The first ```ts block after the line that starts with `**<framework>**`. */
export function readmeSnippet(readme: string, framework: (typeof FRAMEWORKS)[number]): string {
  const heading = readme.split('\n').findIndex((line) => line.startsWith(`**${framework}**`)) + 1
  if (heading < 1) throw new Error(`README.md has no **${framework}** snippet`)
  const block = tsBlocks(readme).find((b) => b.line > heading)
  if (!block) throw new Error(`README.md: no \`\`\`ts block after **${framework}**`)
  return `${block.code}\n`
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

async function get(url: string, deadlineMs: number): Promise<Response> {
  for (;;) {
    try {
      return await fetch(url)
    } catch (error) {
      if (Date.now() > deadlineMs) throw error
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

function expectHeader(response: Response, name: string, expected: string | null, where: string): void {
  const actual = response.headers.get(name)
  if (actual !== expected) throw new Error(`${where}: ${name} was ${actual}, expected ${expected}`)
}

/** Runs each README snippet in `appDir` (where the tarballs and frameworks are installed). */
export async function runReadmeSnippets(readme: string, appDir: string, timeoutMs: number): Promise<string> {
  let report = ''
  for (const framework of FRAMEWORKS) {
    const source = readmeSnippet(readme, framework)
    if (!source.includes('3000')) throw new Error(`README ${framework} snippet no longer listens on 3000`)
    const port = await freePort()
    const file = join(appDir, `readme-${framework.toLowerCase()}.mjs`)
    await writeFile(file, source.replaceAll('3000', String(port)))
    const child = spawn(process.execPath, [file], { cwd: appDir, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    try {
      const base = `http://localhost:${port}`
      const deadlineMs = Date.now() + timeoutMs
      const first = await get(`${base}/`, deadlineMs)
      const where = `README ${framework} snippet`
      if (first.status !== 200) throw new Error(`${where}: GET / answered ${first.status}`)
      expectHeader(first, 'ratelimit-policy', '"sliding-window";q=100;w=60', where)
      expectHeader(first, 'x-ratelimit-remaining', '99', where)
      const body = await first.text()
      if (!body.includes('99 left')) throw new Error(`${where}: body was ${JSON.stringify(body)}`)
      if (framework === 'Fastify') {
        const search = await get(`${base}/search`, deadlineMs)
        expectHeader(search, 'ratelimit-policy', '"fixed-window";q=10;w=60', `${where} /search`)
        const health = await get(`${base}/health`, deadlineMs)
        expectHeader(health, 'ratelimit-policy', null, `${where} /health`)
      }
      report += `ok README ${framework} snippet\n`
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${output}`)
    } finally {
      child.kill('SIGTERM')
      await exited
    }
  }
  return report
}
