// The soak's server process: examples/express on Redis (ioredis set up as docs/stores.md says),
// behind a trusted loopback proxy so X-Forwarded-For picks the client. Prints one JSON line per
// event on stdout: {port}, then {heapUsedBytes} after a full gc every second, and {log} for any
// console.error / console.warn (an error logged fails the soak).
// Run: node --expose-gc --conditions=@floodgate/source --import tsx soak-server.ts <redisUrl> <prefix>
import { createServer, type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Redis } from 'ioredis'
import { redisStore } from '../redis/redis-store.js'
import type { RateLimitStore } from '../store.js'

/** The part of examples/express/server.ts used here (imported by URL: core's tsconfig excludes examples). */
interface ExpressExample {
  createApp(options: { store: RateLimitStore; prefix: string }): {
    app: RequestListener & { set(name: string, value: unknown): void }
    close(): Promise<void>
  }
}
const EXAMPLE = new URL('../../../../examples/express/server.ts', import.meta.url).href
const { createApp } = (await import(EXAMPLE)) as ExpressExample

const [redisUrl, prefix] = process.argv.slice(2) as [string, string]
const emit = (event: object) => process.stdout.write(`${JSON.stringify(event)}\n`)
for (const level of ['error', 'warn'] as const) {
  console[level] = (...args: unknown[]) => emit({ log: args.map(String).join(' ').slice(0, 500) })
}
process.on('unhandledRejection', (reason) => emit({ log: `unhandledRejection: ${String(reason)}` }))

const client = new Redis(redisUrl, {
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
})
await new Promise((resolve) => client.once('ready', resolve))
const { app, close } = createApp({ store: redisStore({ client }), prefix })
app.set('trust proxy', 'loopback')
const server = createServer(app).listen(0, '127.0.0.1')
await new Promise((resolve) => server.once('listening', resolve))
emit({ port: (server.address() as AddressInfo).port })

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with --expose-gc')
const sampler = setInterval(() => {
  gc()
  emit({ heapUsedBytes: process.memoryUsage().heapUsed })
}, 1_000)

process.stdin.resume()
process.stdin.on('end', async () => {
  clearInterval(sampler)
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  await close()
  await client.quit()
  process.exit(0)
})
