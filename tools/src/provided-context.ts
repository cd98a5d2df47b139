// What tools/src/vitest-global-setup.ts hands to test files through vitest's provide/inject.
declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the Redis shared by the test run (REDIS_URL, or a private redis-server); undefined when none. */
    redisUrl: string | undefined
    /** True when `redis-server` is on PATH, so a test can start its own server or cluster. */
    redisServerAvailable: boolean
  }
}

export {}
