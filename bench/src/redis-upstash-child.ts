// The local Upstash-style REST server in its own process (see redis-contenders.ts), so its CPU is
// not billed to the client under test. Messages: 'stats' → its request and command counts; 'stop'.
import { startUpstashServer } from '@floodgate/tools'

const redisUrl = process.argv[2]
if (redisUrl === undefined || process.send === undefined) {
  throw new Error('usage: fork(redis-upstash-child.ts, [redisUrl]) with an IPC channel')
}
const send = process.send.bind(process)
const server = await startUpstashServer({ redisUrl })
send({ type: 'ready', url: server.url, token: server.token })

process.on('message', (message: { type: string }) => {
  if (message.type === 'stats') send({ type: 'stats', ...server.stats })
  if (message.type === 'stop') void server.stop().then(() => process.exit(0))
})
// The parent died without saying stop: do not outlive it.
process.on('disconnect', () => void server.stop().then(() => process.exit(0)))
