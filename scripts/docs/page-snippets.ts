// A page's ```ts blocks as docs-snippets.test.ts checks them: each block to typecheck with what its
// `<!-- snippet: ... -->` comment names, each skip with its reason, and what is wrong with a comment.
import { tsBlocks } from './code-blocks.js'
import { applyContexts } from './snippet-contexts.js'
import type { Snippet } from './typecheck-snippets.js'

export interface PageSnippets {
  snippets: Snippet[]
  /** `file:line: reason` for each `<!-- snippet: skip: reason -->`. */
  skipped: string[]
  /** A skip that says no reason, a context name that is none. */
  problems: string[]
}

/** The blocks of `markdown` (the page `file`) to typecheck, the skipped ones, and the problems. */
export function pageSnippets(file: string, markdown: string): PageSnippets {
  const snippets: Snippet[] = []
  const skipped: string[] = []
  const problems: string[] = []
  for (const { line, code, directive } of tsBlocks(markdown)) {
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
  return { snippets, skipped, problems }
}
