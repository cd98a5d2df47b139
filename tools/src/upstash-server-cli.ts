#!/usr/bin/env -S node --import tsx
// floodgate-upstash-server: a local Upstash-style REST endpoint for development.
// Usage: REDIS_URL=redis://127.0.0.1:6380 PORT=8079 TOKEN=dev pnpm --filter @floodgate/tools upstash-server
import { startUpstashServer } from './upstash-server.js'

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const port = process.env.PORT ? Number(process.env.PORT) : undefined
if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65_536)) {
  console.error(`PORT must be an integer from 0 to 65535, got ${JSON.stringify(process.env.PORT)}`)
  process.exit(1)
}
const token = process.env.TOKEN || undefined
/** The Redis URL as printed: without its user and password. */
const shownUrl = redisUrl.replace(/\/\/[^@/]*@/, '//')

const server = await startUpstashServer({ redisUrl, port, token }).catch((error: unknown) => {
  console.error(`cannot start: ${(error as Error).message} (is Redis reachable at ${shownUrl}?)`)
  process.exit(1)
})

console.log(`Upstash-compatible REST server forwarding to ${shownUrl}. Export:`)
console.log(`export UPSTASH_REDIS_REST_URL=${server.url}`)
console.log(`export UPSTASH_REDIS_REST_TOKEN=${server.token}`)
console.log('Ctrl-C to stop.')

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void server.stop().then(() => process.exit(0))
  })
}
