import { describe, expect, it } from 'vitest'
import { boundIdentifier, digest, MAX_IDENTIFIER_LENGTH } from './keys.js'

describe('digest', () => {
  // Reference values from `printf '' | openssl dgst -sha256 -binary | basenc --base64url` (and
  // `printf 'a\0'`, the UTF-16LE code unit of 'a'), without the trailing `=`.
  it('is the unpadded base64url SHA-256 of the UTF-16LE code units', () => {
    expect(digest('')).toBe('47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU')
    expect(digest('a')).toBe('_-mq6qKi1QSBdN8LgFme8Bl-wCTEsFG8mGDP9Y73-fM')
  })
})

describe('boundIdentifier', () => {
  it('keeps a short identifier as it is, one starting with NUL included', () => {
    for (const id of ['', 'user:42', 'x'.repeat(MAX_IDENTIFIER_LENGTH), '\0abc', '\0sha256']) {
      expect(boundIdentifier(id)).toBe(id)
    }
    // The longest kept, NUL first included: 128 UTF-16 code units, as docs/errors.md says.
    const nul = `\0${'x'.repeat(127)}`
    expect(boundIdentifier(nul)).toBe(nul)
    expect(boundIdentifier('😀'.repeat(64))).toBe('😀'.repeat(64))
    expect(boundIdentifier('x'.repeat(129))).toBe(`\0sha256:${digest('x'.repeat(129))}`)
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
