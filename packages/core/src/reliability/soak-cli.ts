// `pnpm soak`: the full 60 s soak on a private redis-server. Prints the figures; exits 1 on failure.
import { randomUUID } from 'node:crypto'
import { startRedisServer } from '@floodgate/tools'
import { heapTrendsUp, runSoak, SOAK_CLIENTS } from './soak.js'

const durationMs = Number(process.env.SOAK_MS ?? 60_000)
const redis = await startRedisServer()
try {
  const result = await runSoak({
    redisUrl: redis.url,
    durationMs,
    prefix: `soak-${randomUUID().slice(0, 8)}`,
  })
  const mb = (bytes: number) => (bytes / 1_048_576).toFixed(1)
  console.log(`requests: ${result.requests} in ${durationMs / 1_000} s`, result.statusCounts)
  console.log(`heapUsed after gc (MB), one sample per second: ${result.heapSamplesBytes.map(mb).join(' ')}`)
  console.log(
    `median first third ${mb(result.firstThirdMedianBytes)} MB, last third ${mb(result.lastThirdMedianBytes)} MB (fails above +10 %)`,
  )
  console.log(`keys scanned: ${result.keysScanned}, without TTL: ${result.keysWithoutTtl.length}`)
  const failures = [
    heapTrendsUp(result) && 'heap trends upward',
    result.logged.length > 0 && `server logged: ${result.logged.slice(0, 5).join(' | ')}`,
    result.keysWithoutTtl.length > 0 && 'keys without a TTL',
    result.keysScanned !== SOAK_CLIENTS && `expected ${SOAK_CLIENTS} keys`,
    // 5 per client per sliding minute: 60 s spans at most two epoch-aligned windows.
    !(result.statusCounts[200]! >= SOAK_CLIENTS * 5 && result.statusCounts[200]! <= SOAK_CLIENTS * 10) &&
      `expected ${SOAK_CLIENTS * 5}–${SOAK_CLIENTS * 10} admitted`,
  ].filter(Boolean)
  console.log(failures.length === 0 ? 'soak passed' : `soak FAILED: ${failures.join('; ')}`)
  process.exitCode = failures.length === 0 ? 0 : 1
} finally {
  await redis.stop()
}
