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
  tsconfig: 'tsconfig.build.json',
  external: ['ioredis', 'redis', '@upstash/redis', '@upstash/ratelimit', 'vitest'],
})
