import { describe, inject } from 'vitest'
import './provided-context.js'
import { isCi } from './redis-availability.js'

// Test files reach Redis only through these helpers. The only skipping they allow is gating on
// the environment: a machine without Redis (never CI, where a missing Redis is a failure).

const MISSING_URL =
  'no Redis for this test run: set REDIS_URL or put redis-server on PATH (tools/src/vitest-global-setup.ts)'
const MISSING_BINARY = 'redis-server is not on PATH: these tests start their own Redis servers'

/** The shared test Redis URL. Throws when there is none. */
export function requireRedisUrl(): string {
  const url = inject('redisUrl')
  if (url === undefined) throw new Error(MISSING_URL)
  return url
}

/** The shared test Redis URL, or undefined off CI when there is none (throws in CI). */
export function redisUrlOrSkip(): string | undefined {
  const url = inject('redisUrl')
  if (url === undefined && isCi()) throw new Error(MISSING_URL)
  return url
}

/**
 * `describe` that runs when the run has a Redis, and passes its URL. The shared Redis is used by
 * test files in parallel: keep keys under a prefix of your own, and never FLUSHALL it (start a
 * private server with startRedisServer() for tests that flush, restart or kill Redis).
 */
export function describeRedis(name: string, fn: (redisUrl: string) => void): void {
  const url = redisUrlOrSkip()
  describe.runIf(url !== undefined)(name, () => fn(url as string))
}

/** True when tests may start their own redis-server; throws in CI when they cannot. */
export function redisServerAvailableOrSkip(): boolean {
  const available = inject('redisServerAvailable')
  if (!available && isCi()) throw new Error(MISSING_BINARY)
  return available
}

/** `describe` for tests that start their own servers or clusters: runs when redis-server is on PATH. */
export function describeRedisServer(name: string, fn: () => void): void {
  describe.runIf(redisServerAvailableOrSkip())(name, fn)
}
