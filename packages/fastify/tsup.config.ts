import { defineConfig } from 'tsup'

export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  treeshake: true,
  tsconfig: 'tsconfig.build.json',
  // Keep `node:crypto` and the like as written: Node-compatibility layers and bundlers match the prefix.
  removeNodeProtocol: false,
})
