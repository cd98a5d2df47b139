// Every ```ts block of the docs typechecks against Floodgate's types (its sources) and the
// framework versions the workspace pins: a renamed option, a missing import or a wrong type in a
// docs example fails here, naming the page and line. Fragments say what they take from elsewhere
// on the page with `<!-- snippet: <contexts> -->` (scripts/docs/snippet-contexts.ts); a block that
// cannot be typechecked says `<!-- snippet: skip: <why> -->`, and the skips are counted.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { pageSnippets } from './docs/page-snippets.js'
import { typecheckSnippets } from './docs/typecheck-snippets.js'

const root = fileURLToPath(new URL('..', import.meta.url))

const markdownIn = (dir: string) =>
  readdirSync(join(root, dir))
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(dir, name))

const PAGES = [
  'README.md',
  ...markdownIn('docs'),
  ...markdownIn('docs/migrating'),
  ...readdirSync(join(root, 'packages')).map((name) => `packages/${name}/README.md`),
  ...readdirSync(join(root, 'examples'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(root, 'examples', entry.name, 'README.md')))
    .map((entry) => `examples/${entry.name}/README.md`),
  'tools/README.md',
]

/** The blocks to check, the skipped ones, and the problems with the `snippet:` comments. */
function collect() {
  const pages = PAGES.map((file) => pageSnippets(file, readFileSync(join(root, file), 'utf8')))
  return {
    snippets: pages.flatMap((page) => page.snippets),
    skipped: pages.flatMap((page) => page.skipped),
    problems: pages.flatMap((page) => page.problems),
  }
}

it('typechecks every ```ts block of the docs', () => {
  const startedAt = Date.now()
  const { snippets, skipped, problems } = collect()
  const errors = [...problems, ...typecheckSnippets(root, snippets)]
  console.log(
    `docs snippets: ${snippets.length} typechecked, ${skipped.length} skipped in ${Date.now() - startedAt} ms` +
      skipped.map((s) => `\n  skipped ${s}`).join(''),
  )
  expect(errors).toEqual([])
  // Every fence counted independently of the extraction: a block it missed would go unchecked.
  const fences = PAGES.flatMap((file) => readFileSync(join(root, file), 'utf8').match(/^```ts\s*$/gm) ?? [])
  expect(snippets.length + skipped.length).toBe(fences.length)
  expect(fences.length).toBeGreaterThan(40)
}, 60_000)

it('reads every Markdown page of the repo that has a ```ts block', () => {
  const ignored = new Set(['node_modules', '.git', '.tmp', 'dist', 'coverage'])
  const withBlocks = (dir: string): string[] =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
      const path = dir === '' ? entry.name : `${dir}/${entry.name}`
      if (entry.isDirectory()) return ignored.has(entry.name) ? [] : withBlocks(path)
      if (!entry.name.endsWith('.md')) return []
      return /^```ts\s*$/m.test(readFileSync(join(root, path), 'utf8')) ? [path] : []
    })
  expect(withBlocks('').filter((page) => !PAGES.includes(page))).toEqual([])
})
