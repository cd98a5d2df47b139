import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Decision } from './decision.js'
import { ERROR_CODES, type FloodgateError } from './errors.js'
import { rateLimitHeaders } from './headers.js'
import { createRateLimiter } from './limiter.js'
import { fixedWindow } from './policies/fixed-window.js'
import type { RateLimitStore, StoreResponse } from './store.js'

const boom = new Error('connection refused')

/** A remote-looking store (`local: false`, so the limiter applies its deadline) failing one way. */
function failingStore(consume: () => StoreResponse | Promise<StoreResponse>): RateLimitStore {
  return { name: 'flaky', local: false, consume, reset: () => {}, close: () => {} }
}

function limiterOn(store: RateLimitStore, onStoreError: 'allow' | 'deny') {
  const failures: FloodgateError[] = []
  const warnings: string[] = []
  const limiter = createRateLimiter({
    policies: fixedWindow({ limit: 5, window: '1 m' }),
    store,
    onStoreError,
    onStoreFailure: (error) => failures.push(error),
    logger: { warn: (message) => warnings.push(message) },
  })
  return { limiter, failures, warnings }
}

const ways: [string, () => StoreResponse | Promise<StoreResponse>][] = [
  [
    'throws',
    () => {
      throw boom
    },
  ],
  ['rejects', () => Promise.reject(boom)],
]

afterEach(() => {
  vi.useRealTimers()
})

describe('store failures', () => {
  for (const [how, consume] of ways) {
    for (const onStoreError of ['allow', 'deny'] as const) {
      it(`a store that ${how} gives a store-error decision that follows onStoreError '${onStoreError}'`, async () => {
        const { limiter, failures, warnings } = limiterOn(failingStore(consume), onStoreError)
        const d = await limiter.limit('a')
        expect(d).toMatchObject({ allowed: onStoreError === 'allow', reason: 'store-error', policies: [] })
        expect(d.error?.code).toBe(ERROR_CODES.STORE_ERROR)
        expect(d.error?.cause).toBe(boom)
        expect(d.error?.message).toContain('connection refused')
        expect(failures).toEqual([d.error])
        expect(rateLimitHeaders(d, ['draft-8', 'legacy'])).toEqual({})
        // Repeated failures are reported to the hook every time, to the log once a minute.
        await limiter.limit('a')
        expect(failures).toHaveLength(2)
        expect(warnings).toHaveLength(1)
        expect(warnings[0]).toContain(ERROR_CODES.STORE_ERROR)
      })
    }
  }

  it('a store that never answers times out after `timeout` with STORE_TIMEOUT', async () => {
    vi.useFakeTimers()
    const { limiter, failures } = limiterOn(
      failingStore(() => new Promise<never>(() => {})),
      'deny',
    )
    let settled: Decision | undefined
    const pending = limiter.limit('a').then((d) => {
      settled = d
    })
    await vi.advanceTimersByTimeAsync(249)
    expect(settled).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    await pending
    expect(settled).toMatchObject({ allowed: false, reason: 'store-error' })
    expect(settled?.error?.code).toBe(ERROR_CODES.STORE_TIMEOUT)
    expect(failures.map((e) => e.code)).toEqual([ERROR_CODES.STORE_TIMEOUT])
    expect(rateLimitHeaders(settled!, ['draft-8', 'legacy'])).toEqual({})
  })

  it('a store that rejects after its deadline leaves no unhandled rejection', async () => {
    vi.useFakeTimers()
    const late = failingStore(
      () => new Promise<never>((_, reject) => setTimeout(() => reject(new Error('too late')), 1_000)),
    )
    const { limiter } = limiterOn(late, 'allow')
    const pending = limiter.limit('a')
    await vi.advanceTimersByTimeAsync(250)
    expect((await pending).error?.code).toBe(ERROR_CODES.STORE_TIMEOUT)
    // vitest fails the run on an unhandled rejection, so this must settle quietly.
    await vi.advanceTimersByTimeAsync(1_000)
  })

  it('wraps any other error, whatever its own code, as STORE_ERROR', async () => {
    const { limiter } = limiterOn(
      failingStore(() => {
        throw Object.assign(new Error('x'), { code: 'ECONNRESET' })
      }),
      'allow',
    )
    expect((await limiter.limit('a')).error?.code).toBe(ERROR_CODES.STORE_ERROR)
  })

  it('a throwing onStoreFailure hook does not turn the decision into an exception', async () => {
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 5, window: '1 m' }),
      store: failingStore(() => Promise.reject(boom)),
      onStoreFailure: () => {
        throw new Error('hook failed')
      },
      logger: false,
    })
    expect(await limiter.limit('a')).toMatchObject({ allowed: true, reason: 'store-error' })
  })
})
