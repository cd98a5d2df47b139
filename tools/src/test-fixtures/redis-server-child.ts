// Starts a private redis-server, prints its PID, then exits by itself or waits to be killed.
// Used by guarded-process.test.ts to check that the server dies with its parent.
import { startRedisServer } from '../redis-server.js'

const server = await startRedisServer()
process.stdout.write(`${JSON.stringify({ redisPid: server.pid })}\n`)
if (process.argv.includes('--exit')) process.exit(0)
setInterval(() => {}, 60_000)
