import { describe, expect, it } from 'vitest'
import { boundIdentifier, digest, MAX_IDENTIFIER_LENGTH } from './keys.js'

describe('boundIdentifier', () => {
  it('keeps a short identifier as it is, one starting with NUL included', () => {
    for (const id of ['', 'user:42', 'x'.repeat(MAX_IDENTIFIER_LENGTH), '\0abc', '\0sha256']) {
      expect(boundIdentifier(id)).toBe(id)
    }
  })

  it('replaces a long identifier by its digest', () => {
    const long = 'x'.repeat(MAX_IDENTIFIER_LENGTH + 1)
    expect(boundIdentifier(long)).toBe(`\0sha256:${digest(long)}`)
  })

  it('never lets a short identifier spell the digest of a long one', () => {
    const long = 'x'.repeat(200)
    const forged = `\0sha256:${digest(long)}`
    expect(forged.length).toBeLessThanOrEqual(MAX_IDENTIFIER_LENGTH)
    expect(boundIdentifier(forged)).not.toBe(boundIdentifier(long))
    expect(boundIdentifier(forged)).toBe(`\0sha256:${digest(forged)}`)
  })
})
