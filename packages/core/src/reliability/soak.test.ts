import { randomUUID } from 'node:crypto'
import { describeRedis } from '@floodgate/tools'
import { expect, it } from 'vitest'
import { heapTrendsUp, runSoak, SOAK_CLIENTS } from './soak.js'

// The short form of `pnpm soak` (60 s): 8 s of autocannon against examples/express on Redis.

describeRedis('soak (short form)', (redisUrl) => {
  it('serves 8 s of load from 200 rotating client addresses with no heap trend, nothing logged, and every key expiring', async () => {
    const result = await runSoak({ redisUrl, durationMs: 8_000, prefix: `soak-${randomUUID().slice(0, 8)}` })
    console.info(
      `soak: ${result.requests} requests ${JSON.stringify(result.statusCounts)}, heap median first/last third ${result.firstThirdMedianBytes}/${result.lastThirdMedianBytes} B`,
    )
    expect(result.logged).toEqual([])
    // 5 per client address per sliding minute: at least 5 each, and never more than two windows'
    // worth (8 s may cross a minute boundary, where the previous window's weight starts to fall).
    expect(Object.keys(result.statusCounts).sort()).toEqual(['200', '429'])
    expect(result.statusCounts[200]).toBeGreaterThanOrEqual(SOAK_CLIENTS * 5)
    expect(result.statusCounts[200]).toBeLessThanOrEqual(SOAK_CLIENTS * 10)
    expect(result.heapSamplesBytes.length).toBeGreaterThanOrEqual(6)
    expect(heapTrendsUp(result), JSON.stringify(result.heapSamplesBytes)).toBe(false)
    expect(result.keysScanned).toBe(SOAK_CLIENTS)
    expect(result.keysWithoutTtl).toEqual([])
  }, 30_000)
})
