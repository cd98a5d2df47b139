// Every ```ts block of the docs typechecks against Floodgate's types (its sources) and the
// framework versions the workspace pins: a renamed option, a missing import or a wrong type in a
// docs example fails here, naming the page and line. Fragments say what they take from elsewhere
// on the page with `<!-- snippet: <contexts> -->` (scripts/docs/snippet-contexts.ts); a block that
// cannot be typechecked says `<!-- snippet: skip: <why> -->`, and the skips are counted.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { tsBlocks } from './docs/code-blocks.js'
import { applyContexts } from './docs/snippet-contexts.js'
import { type Snippet, typecheckSnippets } from './docs/typecheck-snippets.js'

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
]

/** The blocks to check, the skipped ones, and the problems with the `snippet:` comments. */
function collect() {
  const snippets: Snippet[] = []
  const skipped: string[] = []
  const problems: string[] = []
  for (const file of PAGES) {
    for (const { line, code, directive } of tsBlocks(readFileSync(join(root, file), 'utf8'))) {
      if (directive?.startsWith('skip')) {
        const reason = directive.replace(/^skip:?/, '').trim()
        if (reason === '') problems.push(`${file}:${line}: a skip says why (<!-- snippet: skip: why -->)`)
        skipped.push(`${file}:${line}: ${reason}`)
        continue
      }
      const contexts = directive?.split(',').map((name) => name.trim()) ?? []
      const { prelude, modules, unknown } = applyContexts(contexts, code)
      for (const name of unknown)
        problems.push(`${file}:${line}: no snippet context '${name}' in scripts/docs/snippet-contexts.ts`)
      snippets.push({ file, line, code, prelude, modules })
    }
  }
  return { snippets, skipped, problems }
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
