// Regenerates the algorithm pictures of docs/algorithms.md: `pnpm docs:pictures`.
// The same bursty trace runs through fixedWindow, slidingWindow and tokenBucket on a memory store
// with a manual clock, so the SVG files are identical on every run.
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PICTURES_DIR, renderPictures } from './pictures/pictures.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const dir = join(root, PICTURES_DIR)
const files = await renderPictures()
await mkdir(dir, { recursive: true })
// Drop pictures that are no longer generated, so the folder always matches the script.
for (const name of await readdir(dir)) {
  if (name.endsWith('.svg') && !files.has(name)) await rm(join(dir, name))
}
for (const [name, svg] of files) {
  await writeFile(join(dir, name), svg)
  console.log(`wrote ${PICTURES_DIR}/${name} (${svg.length} bytes)`)
}
