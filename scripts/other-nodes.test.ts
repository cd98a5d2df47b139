import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { MAIN_RUN_ONLY_TESTS, OTHER_NODE_VERSIONS, RUNTIME_TESTS } from './other-nodes.js'

const root = fileURLToPath(new URL('..', import.meta.url))

/** Every test file of the suite, as vitest.config.ts includes them, relative to the root. */
function testFiles(dir = root): string[] {
  const files: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) files.push(...testFiles(path))
    else if (entry.name.endsWith('.test.ts')) files.push(relative(root, path))
  }
  return files
}

describe('test:nodes', () => {
  const files = testFiles()

  // vitest takes a filter that matches no file in silence: a test renamed or moved would drop out.
  it.each(RUNTIME_TESTS)('runs test files under %s', (filter) => {
    expect(files.filter((file) => file.includes(filter))).not.toEqual([])
  })

  it('leaves out the seeded traces of each adapter, and only them', () => {
    const pattern = new RegExp(MAIN_RUN_ONLY_TESTS)
    const traces = readFileSync(join(root, 'packages/core/src/testing/adapter-traces.ts'), 'utf8')
    const describeName = /describe\(`\$\{[^}]+\}: ([^`]+)`/.exec(traces)?.[1]
    expect(describeName).toBe('seeded traces against the model')
    expect(pattern.test(`express 5, express 4: ${describeName} seed 3: every answer as the model says`)).toBe(
      false,
    )
    expect(pattern.test('express 5 the 6th request of a 5-per-window policy is 429')).toBe(true)
  })

  it('names each Node.js major once, as an exact version', () => {
    const majors = OTHER_NODE_VERSIONS.map((version) => {
      expect(version).toMatch(/^\d+\.\d+\.\d+$/)
      return Number(version.split('.')[0])
    })
    expect(new Set(majors).size).toBe(majors.length)
  })
})
