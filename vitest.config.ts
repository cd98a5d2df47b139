import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url))

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@floodgate\/core\/redis$/, replacement: src('./packages/core/src/redis/index.ts') },
      { find: /^@floodgate\/core\/upstash$/, replacement: src('./packages/core/src/upstash/index.ts') },
      { find: /^@floodgate\/core\/testing$/, replacement: src('./packages/core/src/testing/index.ts') },
      { find: /^@floodgate\/core$/, replacement: src('./packages/core/src/index.ts') },
      { find: /^@floodgate\/express$/, replacement: src('./packages/express/src/index.ts') },
      { find: /^@floodgate\/koa$/, replacement: src('./packages/koa/src/index.ts') },
      { find: /^@floodgate\/fastify$/, replacement: src('./packages/fastify/src/index.ts') },
      { find: /^@floodgate\/tools$/, replacement: src('./tools/src/index.ts') },
    ],
  },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'tools/src/**/*.test.ts',
      'examples/**/*.test.ts',
      'scripts/**/*.test.ts',
      'bench/src/**/*.test.ts',
    ],
    exclude: ['**/node_modules/**', '**/dist/**'],
    // One Redis for the run (REDIS_URL or a private redis-server), read by tests via inject('redisUrl').
    globalSetup: ['./tools/src/vitest-global-setup.ts'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 60_000,
    typecheck: { enabled: false },
  },
})
