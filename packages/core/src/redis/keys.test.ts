import { describe, expect, it } from 'vitest'
import { counterKey, counterKeys } from './keys.js'

/** The hash tag Redis Cluster hashes: the first `{…}` with at least one character inside. */
function hashTag(key: string): string {
  const open = key.indexOf('{')
  const close = key.indexOf('}', open + 1)
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key
}

describe('Redis counter keys', () => {
  it('stay the same length whatever the identifier', () => {
    const short = counterKey('floodgate', 'a', 'burst')
    const long = counterKey('floodgate', 'x'.repeat(100_000), 'burst')
    expect(long.length).toBe(short.length)
  })

  it('put every policy of one identifier in one Cluster slot, braces in the identifier included', () => {
    for (const id of ['{a}', '}{', '{', 'user:{42}:x', '', '{}']) {
      const keys = counterKeys('app', id, ['burst', 'daily', 'x.y-z_1'])
      expect(new Set(keys.map(hashTag)).size).toBe(1)
    }
  })

  it('give distinct identifiers distinct keys, even when joining their parts would collide', () => {
    const a = counterKey('a:b', 'c', 'd')
    const b = counterKey('a', 'b:c', 'd')
    expect(a).not.toBe(b)
    expect(counterKey('p', 'é', 'n')).not.toBe(counterKey('p', '\u00e9'.normalize('NFD'), 'n'))
    expect(counterKey('p', '\ud800', 'n')).not.toBe(counterKey('p', '\ufffd', 'n'))
  })

  it('match counterKey for a single policy', () => {
    expect(counterKeys('p', 'id', ['a'])).toEqual([counterKey('p', 'id', 'a')])
  })
})
