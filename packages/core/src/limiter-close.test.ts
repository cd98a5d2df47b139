import { describe, expect, it, vi } from 'vitest'
import { ERROR_CODES } from './errors.js'
import { createRateLimiter } from './limiter.js'
import { fixedWindow } from './policies/fixed-window.js'
import { type MemoryStore, memoryStore } from './stores/memory-store.js'

const policies = fixedWindow({ limit: 5, window: '1 m' })

describe('close()', () => {
  it('is idempotent', async () => {
    const limiter = createRateLimiter({ policies })
    await limiter.limit('a')
    await limiter.close()
    await expect(limiter.close()).resolves.toBeUndefined()
  })

  it('makes every later call reject with ERR_FLOODGATE_CLOSED', async () => {
    const limiter = createRateLimiter({ policies })
    await limiter.close()
    for (const call of [() => limiter.limit('a'), () => limiter.peek('a'), () => limiter.reset('a')]) {
      await expect(call()).rejects.toMatchObject({ code: ERROR_CODES.CLOSED })
    }
  })

  it('leaves a store it was given open for its other users', async () => {
    const store = memoryStore()
    let closes = 0
    const limiter = createRateLimiter({
      policies,
      store: {
        ...store,
        name: store.name,
        local: true,
        consume: (r) => store.consume(r),
        reset: (r) => store.reset(r),
        close: () => void closes++,
      },
    })
    await limiter.close()
    expect(closes).toBe(0)
  })

  it('closes the memory store it made itself, once however often it is closed', async () => {
    const close = vi.spyOn(Object.getPrototypeOf(memoryStore()) as MemoryStore, 'close')
    try {
      const limiter = createRateLimiter({ policies })
      await limiter.limit('a')
      await limiter.close()
      await limiter.close()
      expect(close).toHaveBeenCalledTimes(1)
    } finally {
      close.mockRestore()
    }
  })
})
