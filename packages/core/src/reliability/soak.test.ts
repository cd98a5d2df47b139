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
    // Exactly 5 per client address in the minute, every other request limited.
    expect(result.statusCounts).toEqual({ 200: SOAK_CLIENTS * 5, 429: result.requests - SOAK_CLIENTS * 5 })
    expect(result.heapSamplesBytes.length).toBeGreaterThanOrEqual(6)
    expect(heapTrendsUp(result), JSON.stringify(result.heapSamplesBytes)).toBe(false)
    expect(result.keysScanned).toBe(SOAK_CLIENTS)
    expect(result.keysWithoutTtl).toEqual([])
  }, 30_000)
})
