import { describe, expect, it } from 'vitest'
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

  it('refuses to start on an Upstash it cannot reach, rather than run with every request unlimited', async () => {
    await expect(
      storeFromEnv({ UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1', UPSTASH_REDIS_REST_TOKEN: 'secret' }),
    ).rejects.toThrow(
      /^Cannot reach Upstash at UPSTASH_REDIS_REST_URL \(http:\/\/127\.0\.0\.1:1\/?\) .*\. Unset both/,
    )
  })
})
