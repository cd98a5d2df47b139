import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const CHILD = fileURLToPath(new URL('./load-child.ts', import.meta.url))

export interface LoadJob {
  store: 'ioredis' | 'node-redis' | 'upstash' | 'ioredis-cluster'
  set: 'fixed' | 'sliding' | 'bucket' | 'two'
  prefix: string
  calls: number
  timeoutMs: number
  onStoreError: 'allow' | 'deny'
}

export interface LoadResult {
  reasons: Record<string, number>
  slowestMs: number
  /** The first store error's causes with their codes, to explain a failed count. */
  firstError?: string
}

/** Child processes running load-child.ts, all given the same job at once. */
export interface LoadChildren {
  run(job: LoadJob): Promise<LoadResult[]>
  stop(): Promise<void>
}

export async function startLoadChildren(
  count: number,
  redisUrl: string,
  upstash: { url: string; token: string },
  clusterNodes: { host: string; port: number }[],
): Promise<LoadChildren> {
  const children: { process: ChildProcess; next: () => Promise<string> }[] = []
  for (let i = 0; i < count; i++) {
    const child = spawn(
      process.execPath,
      [
        '--conditions=@floodgate/source',
        '--import',
        'tsx',
        CHILD,
        redisUrl,
        upstash.url,
        upstash.token,
        JSON.stringify(clusterNodes),
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    )
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
    const next = async () => {
      const { value, done } = await lines.next()
      if (done) throw new Error(`load child ${child.pid} exited (code ${child.exitCode})`)
      return value as string
    }
    children.push({ process: child, next })
  }
  await Promise.all(children.map(async (c) => expectLine(await c.next(), 'ready')))
  return {
    async run(job) {
      const line = `${JSON.stringify(job)}\n`
      for (const c of children) c.process.stdin!.write(line)
      return Promise.all(children.map(async (c) => JSON.parse(await c.next()) as LoadResult))
    },
    async stop() {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.process.exitCode !== null) return resolve()
              c.process.once('exit', () => resolve())
              c.process.stdin!.end('exit\n')
              setTimeout(() => c.process.kill('SIGKILL'), 5_000).unref()
            }),
        ),
      )
    },
  }
}

function expectLine(line: string, expected: string): void {
  if (line !== expected) throw new Error(`load child said ${JSON.stringify(line)}, expected ${expected}`)
}
