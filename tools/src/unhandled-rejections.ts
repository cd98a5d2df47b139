import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest'

/**
 * Fails each test of the calling suite after which the process saw an unhandled rejection. Call it
 * at the top of a `describe` block: it registers that scope's hooks, and its check runs after the
 * scope's other `afterEach` hooks (so after their cleanup). Returns the rejections seen during the
 * current test, for a test that checks mid-way.
 */
export function expectNoUnhandledRejections(): readonly unknown[] {
  const reasons: unknown[] = []
  const onUnhandled = (reason: unknown) => void reasons.push(reason)
  beforeAll(() => void process.on('unhandledRejection', onUnhandled))
  afterAll(() => void process.off('unhandledRejection', onUnhandled))
  beforeEach(() => {
    reasons.length = 0
  })
  afterEach(() => {
    expect(reasons).toEqual([])
  })
  return reasons
}
