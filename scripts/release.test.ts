import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { type ReleasePackage, ReleaseRefused, releasePlan, workspacePackages } from './release.js'

const root = fileURLToPath(new URL('..', import.meta.url))

const pkg = (name: string, needs: string[] = [], version = '0.1.0'): ReleasePackage => ({
  name,
  version,
  dir: `packages/${name}`,
  needs,
})

describe('releasePlan', () => {
  it('puts every package after the ones it needs, whatever order they are listed in', () => {
    const packages = [pkg('express', ['core']), pkg('fastify', ['core']), pkg('core'), pkg('koa', ['core'])]
    expect(releasePlan(['README.md', 'config.json'], packages).map((p) => p.name)).toEqual([
      'core',
      'express',
      'fastify',
      'koa',
    ])
  })

  it('puts the workspace core first, before the three adapters that depend on it', () => {
    const packages = workspacePackages(root).map((p) => ({ ...p, version: '0.1.0' }))
    const order = releasePlan([], packages).map((p) => p.name)
    expect(order).toHaveLength(4)
    expect(order[0]).toBe('@floodgate/core')
    expect(new Set(order.slice(1))).toEqual(
      new Set(['@floodgate/express', '@floodgate/koa', '@floodgate/fastify']),
    )
  })

  it('refuses while changesets are pending', () => {
    expect(() => releasePlan(['README.md', 'config.json', 'a-fix.md'], [pkg('core')])).toThrow(
      /1 changeset\(s\) are still pending \(a-fix\.md\): run `pnpm version-packages`/,
    )
  })

  it('refuses a package that was never versioned (0.0.0)', () => {
    expect(() => releasePlan([], [pkg('core', [], '0.0.0'), pkg('koa', ['core'], '0.0.0')])).toThrow(
      /core, koa still at 0\.0\.0/,
    )
  })

  it('refuses versions that differ within the fixed group', () => {
    expect(() => releasePlan([], [pkg('core', [], '0.2.0'), pkg('koa', ['core'], '0.1.0')])).toThrow(
      ReleaseRefused,
    )
  })

  it('refuses a dependency cycle rather than pick an order', () => {
    expect(() => releasePlan([], [pkg('a', ['b']), pkg('b', ['a'])])).toThrow(/cycle: a → b → a/)
  })
})
