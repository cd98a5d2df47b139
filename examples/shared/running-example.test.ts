import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { defaultPort, isMain } from './running-example.js'

describe('isMain', () => {
  const argv1 = process.argv[1]
  let dir: string | undefined
  afterEach(() => {
    process.argv[1] = argv1!
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it("knows the file node runs when it was started through a symlink (a deploy's `current` link)", () => {
    dir = mkdtempSync(join(tmpdir(), 'floodgate-ismain-'))
    const file = join(dir, 'server.ts')
    const link = join(dir, 'current')
    symlinkSync(dir, link)
    process.argv[1] = join(link, 'server.ts') // what the shell was given
    // Node loads the module from its real path, which import.meta.url then names.
    writeFileSync(file, '')
    expect(isMain(pathToFileURL(file).href)).toBe(true)
    expect(isMain(pathToFileURL(join(dir, 'other.ts')).href)).toBe(false)
  })
})

describe('defaultPort', () => {
  it('reads PORT, and takes an unset or empty one as the default 3000, not as port 0', () => {
    expect(defaultPort({ PORT: '8080' })).toBe(8080)
    expect(defaultPort({ PORT: '0' })).toBe(0)
    expect(defaultPort({})).toBe(3000)
    expect(defaultPort({ PORT: '' })).toBe(3000)
    expect(defaultPort({ PORT: '  ' })).toBe(3000)
    expect(defaultPort({ PORT: '70000' })).toBe(3000)
  })
})
