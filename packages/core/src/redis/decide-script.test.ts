import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { DECIDE_SCRIPT, DECIDE_SHA1 } from './decide-script.js'

describe('the decision script', () => {
  it('is run by the SHA1 fixed beside it', () => {
    expect(createHash('sha1').update(DECIDE_SCRIPT).digest('hex')).toBe(DECIDE_SHA1)
  })
})
