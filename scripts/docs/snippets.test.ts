// The docs-snippets checker's parts on small in-memory pages: block extraction and its line numbers,
// the contexts a fragment takes, the line an error is reported on, and the `snippet:` comments.
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { tsBlocks } from './code-blocks.js'
import { pageSnippets } from './page-snippets.js'
import { applyContexts, CONTEXTS } from './snippet-contexts.js'
import { typecheckSnippets } from './typecheck-snippets.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const page = (...lines: string[]) => lines.join('\n')

describe('tsBlocks', () => {
  it('gives each block its first code line, its code and the comment right above its fence', () => {
    const markdown = page(
      '# Page', // 1
      '<!-- snippet: express, vitest -->',
      '```ts',
      'const a = 1', // 4
      '```',
      '',
      'Prose <!-- snippet: skip: not at the start of its line -->',
      '```ts  ', // a fence with trailing blanks is a fence
      'b', // 9
      '```  ',
      '```ts',
      '```ts', // 12: inside the block, its code
      'c',
      '```',
    )
    expect(tsBlocks(markdown)).toEqual([
      { line: 4, code: 'const a = 1', directive: 'express, vitest' },
      { line: 9, code: 'b', directive: undefined },
      { line: 12, code: '```ts\nc', directive: undefined },
    ])
  })

  it('refuses a block that is never closed, naming its fence line', () => {
    expect(() => tsBlocks(page('text', '```ts', 'x'))).toThrow('line 2: ```ts block never closed')
  })
})

describe('applyContexts', () => {
  it('lists the names that are no context', () => {
    expect(applyContexts(['express', 'nope', 'vitest', 'Express', 'toString'], '').unknown).toEqual([
      'nope',
      'Express',
      'toString',
    ])
  })

  it("drops a context's declaration of each name the block imports or declares itself, however", () => {
    const own = page(
      "import app from 'express'",
      "import * as rateLimit from '@floodgate/express'",
      "import { slidingWindow as tiers } from '@floodgate/core'",
      'const policies = []',
    )
    expect(applyContexts(['express'], own).prelude).toBe('')
    expect(applyContexts(['limiter'], 'function limiter() {}\nclass server {}').prelude).toBe('')
    // The others stay, in the context's order.
    const { names } = CONTEXTS.limiter!
    expect(applyContexts(['limiter'], 'limiter.limit("k")').prelude).toBe(
      `${names!.limiter}\n${names!.server}`,
    )
    expect(applyContexts(['limiter'], 'const limiter = 1').prelude).toBe(names!.server)
    // Destructured, at any depth.
    expect(applyContexts(['limiter'], 'const { a: [, limiter], ...server } = x').prelude).toBe('')
  })
})

describe('typecheckSnippets', () => {
  it('reports each error on the line of the page it is on, or in the prelude, and unknown packages', () => {
    const errors = typecheckSnippets(root, [
      // An error on the block's first line, right after a two-line prelude, and one in the prelude.
      {
        file: 'docs/a.md',
        line: 10,
        prelude: 'declare const a: number\ndeclare const c: NoSuchType',
        code: 'export const x: string = a',
        modules: {},
      },
      // Without a prelude.
      { file: 'docs/b.md', line: 20, code: "export {}\nconst z: number = 'z'", prelude: '', modules: {} },
      // A package that no workspace package depends on, and a relative module that is no stub.
      {
        file: 'docs/c.md',
        line: 30,
        code: "export {}\nimport { q } from 'no-such-package/sub'\nimport { r } from './nowhere'\nvoid q, r",
        prelude: '',
        modules: {},
      },
      // A syntax error.
      { file: 'docs/d.md', line: 40, code: 'export {}\n\nexport const y = 1 +', prelude: '', modules: {} },
      // A module stub resolves.
      {
        file: 'docs/e.md',
        line: 50,
        code: "import { AppModule } from './app.module'\nexport const n: number = AppModule",
        prelude: '',
        modules: { './app.module': 'export class AppModule {}' },
      },
    ])
    expect(errors.map((error) => error.replace(/(: TS\d+) .*/s, '$1'))).toEqual([
      'docs/c.md:31: imports no-such-package/sub, which no workspace package depends on',
      'docs/a.md:10 (its prelude): TS2304',
      'docs/a.md:10: TS2322',
      'docs/b.md:21: TS2322',
      'docs/c.md:31: TS2307',
      'docs/c.md:32: TS2307',
      'docs/d.md:42: TS1109',
      'docs/e.md:51: TS2322',
    ])
  }, 60_000)
})

describe('pageSnippets', () => {
  it('counts a skip with its reason, asks for one, and names an unknown context', () => {
    const markdown = page(
      '<!-- snippet: skip: needs a server -->', // 1
      '```ts',
      'x', // 3
      '```',
      '<!-- snippet: skip -->',
      '```ts',
      'y', // 7
      '```',
      '<!-- snippet: limiter, nope -->',
      '```ts',
      'limiter', // 11
      '```',
    )
    const { snippets, skipped, problems } = pageSnippets('p.md', markdown)
    expect(skipped).toEqual(['p.md:3: needs a server', 'p.md:7: '])
    expect(problems).toEqual([
      'p.md:7: a skip says why (<!-- snippet: skip: why -->)',
      "p.md:11: no snippet context 'nope' in scripts/docs/snippet-contexts.ts",
    ])
    expect(snippets).toEqual(
      [
        {
          file: 'p.md',
          line: 11,
          code: 'limiter',
          ...applyContexts(['limiter'], 'limiter'),
          unknown: undefined,
        },
      ].map(({ unknown: _, ...snippet }) => snippet),
    )
  })
})
