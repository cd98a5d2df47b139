import { expect } from 'vitest'
import type { Answer } from './burst.js'

/**
 * Asserts the answer is the standard 429 of a 5-per-minute policy named "api" with nothing left:
 * integer Retry-After ≥ 1, draft-8 and legacy headers, a problem+json body.
 */
export function expectStandard429(answer: Answer | undefined): void {
  expect(answer?.status).toBe(429)
  const headers = answer!.headers
  const retryAfter = headers['retry-after'] ?? ''
  expect(retryAfter).toMatch(/^[1-9]\d*$/)
  // The apps run on the wall clock, so the exact wait depends on where in the minute the burst
  // falls. For slidingWindow({ limit: 5, window: 60 s }) with the window full, DESIGN §3 gives
  // retry at 60 s · (1 − 4/5) = 12 s into the window after the one holding the five: at most
  // 72 s from now (at least 1 s, as every Retry-After).
  expect(Number(retryAfter)).toBeLessThanOrEqual(72)
  expect(headers['ratelimit-policy']).toBe('"api";q=5;w=60')
  expect(headers.ratelimit).toMatch(/^"api";r=0;t=[1-9]\d*$/)
  // The quota returns whole no sooner than the same request is admitted again.
  const resetSeconds = Number(/t=(\d+)/.exec(headers.ratelimit ?? '')?.[1])
  expect(resetSeconds).toBeGreaterThanOrEqual(Number(retryAfter))
  expect(headers['x-ratelimit-limit']).toBe('5')
  expect(headers['x-ratelimit-remaining']).toBe('0')
  expect(headers['x-ratelimit-reset']).toMatch(/^\d+$/)
  expect(headers['content-type']).toMatch(/^application\/problem\+json/)
  const body = JSON.parse(answer!.body) as Record<string, unknown>
  expect(body.status).toBe(429)
  expect(body['violated-policies']).toEqual(['api'])
}

/** Asserts an admitted answer carries the policy and the remaining count. */
export function expectAdmitted(answer: Answer | undefined, remaining: number): void {
  expect(answer?.status).toBe(200)
  expect(answer!.headers['ratelimit-policy']).toBe('"api";q=5;w=60')
  expect(answer!.headers.ratelimit).toMatch(new RegExp(`^"api";r=${remaining};t=[1-9]\\d*$`))
  expect(answer!.headers['x-ratelimit-remaining']).toBe(String(remaining))
  expect(JSON.parse(answer!.body)).toEqual({ message: 'hello', remaining })
}

/** Asserts a skipped route answered without any rate-limit header. */
export function expectUnlimited(answer: Answer | undefined): void {
  expect(answer?.status).toBe(200)
  const names = Object.keys(answer!.headers).filter((n) => /ratelimit|retry-after/.test(n))
  expect(names).toEqual([])
}
