import { createServer, type Socket } from 'node:net'
import { describe, expect, it, vi } from 'vitest'
import { storeFromEnv } from './store-from-env.js'

describe('storeFromEnv', () => {
  it('uses the memory store when no store variable is set, or only empty ones', async () => {
    for (const env of [{}, { REDIS_URL: '', UPSTASH_REDIS_REST_URL: ' ', UPSTASH_REDIS_REST_TOKEN: '' }]) {
      const store = await storeFromEnv(env)
      expect(store.kind).toBe('memory')
      expect(store.store.name).toBe('memory')
      await store.close()
    }
  })

  it('refuses half an Upstash configuration instead of silently using memory', async () => {
    await expect(storeFromEnv({ UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1' })).rejects.toThrow(
      /UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN/,
    )
    await expect(storeFromEnv({ UPSTASH_REDIS_REST_TOKEN: 'secret' })).rejects.toThrow(/found only one/)
  })

  it('gives up on an Upstash that takes the connection and never answers, after 2 s', async () => {
    const sockets: Socket[] = []
    const silent = createServer((socket) => void sockets.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const { port } = silent.address() as { port: number }
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const started = storeFromEnv({
        UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${port}`,
        UPSTASH_REDIS_REST_TOKEN: 'secret',
      })
      const outcome = expect(started).rejects.toThrow(/no answer within 2 s\. Unset both/)
      // Once the request has reached the server, 2 s of the start-up's clock.
      while (sockets.length === 0) await new Promise((resolve) => setImmediate(resolve))
      await vi.advanceTimersByTimeAsync(2_000)
      await outcome
    } finally {
      vi.useRealTimers()
      for (const socket of sockets) socket.destroy()
      silent.close()
    }
  })

  it('refuses to start on an Upstash it cannot reach, rather than run with every request unlimited', async () => {
    await expect(
      storeFromEnv({ UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1', UPSTASH_REDIS_REST_TOKEN: 'secret' }),
    ).rejects.toThrow(
      /^Cannot reach Upstash at UPSTASH_REDIS_REST_URL \(http:\/\/127\.0\.0\.1:1\/?\) .*\. Unset both/,
    )
  })
})
