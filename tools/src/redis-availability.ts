import { spawnSync } from 'node:child_process'

/** True when a `redis-server` binary is on PATH. */
export function isRedisServerOnPath(): boolean {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore', timeout: 5_000 })
  return probe.status === 0
}

/** A missing Redis fails the run in CI; elsewhere Redis-backed tests are skipped, loudly. */
export function isCi(): boolean {
  return process.env.CI === 'true'
}
