import { defineConfig } from 'tsup'

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    redis: 'src/redis/index.ts',
    upstash: 'src/upstash/index.ts',
    testing: 'src/testing/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  treeshake: true,
  // One copy of every module for CJS too (shared chunks): otherwise index.cjs and redis.cjs each carry
  // their own FloodgateError class, and `instanceof` fails across entry points.
  splitting: true,
  tsconfig: 'tsconfig.build.json',
  // Keep `node:crypto` and the like as written: Node-compatibility layers and bundlers match the prefix.
  removeNodeProtocol: false,
  external: ['ioredis', 'redis', '@upstash/redis', '@upstash/ratelimit', 'vitest'],
})
