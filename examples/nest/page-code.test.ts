// The page's own code, run by the other tests here, is the code docs/nestjs.md shows: a change to
// either fails this until the other follows.
import { readFileSync } from 'node:fs'
import { expect, it } from 'vitest'
import { tsBlocks } from '../../scripts/docs/code-blocks.js'

const page = readFileSync(new URL('../../docs/nestjs.md', import.meta.url), 'utf8')
const blocks = tsBlocks(page).map((block) => block.code)

/** A file's text without its leading comment, with its test-only lines put back as the page has them. */
function asOnThePage(file: string, changes: Record<string, string | null> = {}): string {
  const lines = readFileSync(new URL(file, import.meta.url), 'utf8')
    .trimEnd()
    .split('\n')
  while (lines[0]?.startsWith('//')) lines.shift()
  return lines
    .flatMap((line) => {
      if (!(line in changes)) return [line]
      const replacement = changes[line]
      return replacement === null || replacement === undefined ? [] : [replacement]
    })
    .join('\n')
}

it('rate-limit.guard.ts is the guard and filter of "Limiting by user", but for its clock', () => {
  const guard = asOnThePage('./rate-limit.guard.ts', {
    "import { memoryStore } from '@floodgate/core'": null,
    "import { manualClock } from '@floodgate/core/testing'": null,
    'export const clock = manualClock(0)': null,
    "export const limiter = createRateLimiter({ policies: fixedWindow({ limit: 3, window: '1 m' }), store: memoryStore({ clock }) })":
      "const limiter = createRateLimiter({ policies: fixedWindow({ limit: 3, window: '1 m' }) })",
  })
  expect(blocks).toContain(guard)
})

it('redis.module.ts is the RedisModule of "Shutdown"', () => {
  expect(blocks).toContain(asOnThePage('./redis.module.ts'))
})

it('search.controller.ts is the SearchController of "Fastify platform"', () => {
  expect(blocks).toContain(asOnThePage('./search.controller.ts'))
})
