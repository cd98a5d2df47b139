import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'

// A bounded soak: examples/express on Redis under autocannon with a mix of identifiers. Reports
// heap after gc (sampled in the server every second), anything the server logged, and Floodgate
// keys left without a TTL. `pnpm soak` runs it for 60 s; soak.test.ts runs a short form.

const SERVER = fileURLToPath(new URL('./soak-server.ts', import.meta.url))
// autocannon is installed for the benchmarks; the soak borrows it from there.
const benchRequire = createRequire(fileURLToPath(new URL('../../../../bench/package.json', import.meta.url)))

/** Distinct client addresses sent in X-Forwarded-For (each its own bucket of 5 per minute, so most requests end limited). */
export const SOAK_CLIENTS = 200

export interface SoakOptions {
  redisUrl: string
  durationMs: number
  prefix: string
  connections?: number
}

export interface SoakResult {
  requests: number
  statusCounts: Record<string, number>
  /** heapUsed after a full gc, one sample per second. */
  heapSamplesBytes: number[]
  firstThirdMedianBytes: number
  lastThirdMedianBytes: number
  /** Lines the server wrote with console.error / console.warn. */
  logged: string[]
  keysScanned: number
  keysWithoutTtl: string[]
}

/** Heap does not trend upward: the last third's median is at most 10 % above the first third's. */
export function heapTrendsUp(result: SoakResult): boolean {
  return result.lastThirdMedianBytes > result.firstThirdMedianBytes * 1.1
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--conditions=@floodgate/source',
      '--import',
      'tsx',
      SERVER,
      options.redisUrl,
      options.prefix,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  const heapSamplesBytes: number[] = []
  const logged: string[] = []
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`soak server exited (code ${code})`)))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as { port?: number; heapUsedBytes?: number; log?: string }
      if (event.port !== undefined) resolve(event.port)
      if (event.heapUsedBytes !== undefined) heapSamplesBytes.push(event.heapUsedBytes)
      if (event.log !== undefined) logged.push(event.log)
    })
  })
  try {
    const statusCounts = await load(port, options)
    const requests = Object.values(statusCounts).reduce((a, b) => a + b, 0)
    const third = Math.floor(heapSamplesBytes.length / 3)
    const keys = await keysWithoutTtl(options.redisUrl, options.prefix)
    return {
      requests,
      statusCounts,
      heapSamplesBytes,
      firstThirdMedianBytes: median(heapSamplesBytes.slice(0, third)),
      lastThirdMedianBytes: median(heapSamplesBytes.slice(-third)),
      logged,
      keysScanned: keys.scanned,
      keysWithoutTtl: keys.withoutTtl,
    }
  } finally {
    child.stdin!.end()
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(kill)
  }
}

async function load(port: number, options: SoakOptions): Promise<Record<string, number>> {
  const autocannon = benchRequire('autocannon') as (
    opts: object,
    cb: (error: unknown, result: unknown) => void,
  ) => { on(event: 'response', fn: (client: unknown, status: number) => void): void }
  const statusCounts: Record<string, number> = {}
  let n = 0
  await new Promise<void>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}`,
        connections: options.connections ?? 20,
        duration: options.durationMs / 1_000,
        requests: [
          {
            method: 'GET',
            path: '/api/hello',
            // A new client address per request, cycling through the pool (v4 and v6).
            setupRequest: (req: { headers?: Record<string, string> }) => {
              const i = n++ % SOAK_CLIENTS
              const address =
                i % 2 === 0 ? `10.${(i >> 8) & 255}.${i & 255}.7` : `2001:db8:${i.toString(16)}::1`
              return { ...req, headers: { ...req.headers, 'x-forwarded-for': address } }
            },
          },
        ],
      },
      (error) => (error ? reject(error) : resolve()),
    )
    instance.on('response', (_client, status) => {
      statusCounts[status] = (statusCounts[status] ?? 0) + 1
    })
  })
  return statusCounts
}

/** SCAN + PTTL over the soak's prefix: every Floodgate key must expire. */
async function keysWithoutTtl(
  redisUrl: string,
  prefix: string,
): Promise<{ scanned: number; withoutTtl: string[] }> {
  const admin = new Redis(redisUrl)
  try {
    let cursor = '0'
    let scanned = 0
    const withoutTtl: string[] = []
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1_000)
      cursor = next
      for (const key of keys) {
        scanned++
        if ((await admin.pttl(key)) < 0) withoutTtl.push(key)
      }
    } while (cursor !== '0')
    return { scanned, withoutTtl }
  } finally {
    admin.disconnect()
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}
