import { Redis } from 'ioredis'
import type { TestProject } from 'vitest/node'
import './provided-context.js'
import { isCi, isRedisServerOnPath } from './redis-availability.js'
import { type RedisServer, startRedisServer } from './redis-server.js'

/**
 * Gives the test run one Redis: REDIS_URL when set, else a private redis-server on a free port,
 * stopped at teardown. Test files read it with requireRedisUrl() / describeRedis().
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redisServerAvailable = isRedisServerOnPath()
  project.provide('redisServerAvailable', redisServerAvailable)

  const fromEnv = process.env.REDIS_URL
  if (fromEnv) {
    await assertAnswers(fromEnv)
    project.provide('redisUrl', fromEnv)
    return async () => {}
  }
  if (redisServerAvailable) {
    const server: RedisServer = await startRedisServer()
    project.provide('redisUrl', server.url)
    return () => server.stop()
  }
  if (isCi()) {
    throw new Error('CI=true but there is no Redis: set REDIS_URL or install redis-server (>= 7.0).')
  }
  project.provide('redisUrl', undefined)
  console.warn(
    [
      '',
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
      '!!  NO REDIS: every Redis, Redis Cluster and Upstash test in this run is SKIPPED.   !!',
      '!!  Install redis-server (>= 7.0) on PATH, or set REDIS_URL, to run them.           !!',
      '!!  In CI (CI=true) a missing Redis fails the run instead.                          !!',
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
      '',
    ].join('\n'),
  )
  return async () => {}
}

async function assertAnswers(url: string): Promise<void> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  redis.on('error', () => {})
  try {
    await redis.connect()
    await redis.ping()
  } catch (error) {
    throw new Error(`REDIS_URL=${url} does not answer PING: ${(error as Error).message}`, { cause: error })
  } finally {
    redis.disconnect()
  }
}
