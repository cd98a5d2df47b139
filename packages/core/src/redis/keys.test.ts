import { describe, expect, it } from 'vitest'
import { digest } from '../keys.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import {
  cachedDigest,
  clusterSlot,
  counterKey,
  counterKeys,
  DIGEST_CACHE_GENERATION,
  digestCacheSize,
} from './keys.js'

const named = (name: string) => fixedWindow({ name, limit: 10, window: '1 m' })

/** The hash tag Redis Cluster hashes: the first `{…}` with at least one character inside. */
function hashTag(key: string): string {
  const open = key.indexOf('{')
  const close = key.indexOf('}', open + 1)
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key
}

describe('Redis counter keys', () => {
  it('stay the same length whatever the identifier', () => {
    const short = counterKey('floodgate', 'a', named('burst'))
    const long = counterKey('floodgate', 'x'.repeat(100_000), named('burst'))
    expect(long.length).toBe(short.length)
    // The hash tag is the 43-character base64url digest: no padding, never a brace or a colon.
    for (const key of [short, long]) expect(hashTag(key)).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('put every policy of one identifier in one Cluster slot, braces in the identifier included', () => {
    for (const id of ['{a}', '}{', '{', 'user:{42}:x', '', '{}']) {
      const keys = counterKeys('app', id, ['burst', 'daily', 'x.y-z_1'].map(named))
      expect(new Set(keys.map(hashTag)).size).toBe(1)
    }
  })

  it('give distinct identifiers distinct keys, even when joining their parts would collide', () => {
    const a = counterKey('a:b', 'c', named('d'))
    const b = counterKey('a', 'b:c', named('d'))
    expect(a).not.toBe(b)
    expect(counterKey('p', 'é', named('n'))).not.toBe(counterKey('p', '\u00e9'.normalize('NFD'), named('n')))
    expect(counterKey('p', '\ud800', named('n'))).not.toBe(counterKey('p', '\ufffd', named('n')))
  })

  it('match counterKey for a single policy, and for several in policy order', () => {
    expect(counterKeys('p', 'id', [named('a')])).toEqual([counterKey('p', 'id', named('a'))])
    const several = ['a', 'b', 'c'].map(named)
    expect(counterKeys('p', 'id', several)).toEqual(several.map((policy) => counterKey('p', 'id', policy)))
  })

  it("name the policy's kind and period beside its name, and not its limit or capacity", () => {
    const tag = `p:{${digest('id')}}`
    expect(counterKey('p', 'id', fixedWindow({ name: 'api', limit: 10, window: '1 m' }))).toBe(
      `${tag}:api:f60000`,
    )
    expect(counterKey('p', 'id', slidingWindow({ name: 'api', limit: 10, window: '1 h' }))).toBe(
      `${tag}:api:s3600000`,
    )
    expect(
      counterKey('p', 'id', tokenBucket({ name: 'api', capacity: 5, refillRate: 1, interval: '1 s' })),
    ).toBe(`${tag}:api:b1000`)
    // Tiers and deploys change limits and keep the count; the same counter whatever the limit.
    expect(counterKey('p', 'id', fixedWindow({ name: 'api', limit: 99, window: '1 m' }))).toBe(
      `${tag}:api:f60000`,
    )
    expect(
      counterKey('p', 'id', tokenBucket({ name: 'api', capacity: 50, refillRate: 7, interval: '1 s' })),
    ).toBe(`${tag}:api:b1000`)
  })
})

describe('the digest cache', () => {
  it('holds at most two generations of identifiers, however many distinct ones arrive', () => {
    // A flood of fresh identifiers (one attacker, many forged keys) must not grow the cache.
    let largest = 0
    for (let i = 0; i < 3 * DIGEST_CACHE_GENERATION + 7; i++) {
      cachedDigest(`flood:${i}`)
      largest = Math.max(largest, digestCacheSize())
    }
    expect(largest).toBe(2 * DIGEST_CACHE_GENERATION)
    // And a recent identifier is still answered from it, the same digest as before.
    expect(cachedDigest(`flood:${3 * DIGEST_CACHE_GENERATION}`)).toBe(
      digest(`flood:${3 * DIGEST_CACHE_GENERATION}`),
    )
  })
})

describe('clusterSlot', () => {
  // Vectors from the Redis Cluster specification (CRC16/XMODEM of "123456789" is 0x31C3) and from
  // `CLUSTER KEYSLOT` in the Redis docs: checked here without a Cluster, where the conformance test
  // against `CLUSTER KEYSLOT` cannot run.
  it('is CRC16 (XMODEM) modulo 16384, as Redis Cluster hashes a key', () => {
    expect(clusterSlot('123456789')).toBe(0x31c3 & 16383)
    expect(clusterSlot('somekey')).toBe(11058)
    expect(clusterSlot('hash_tag')).toBe(2515)
    expect(clusterSlot('foo')).toBe(12182)
    expect(clusterSlot('')).toBe(0)
    expect(clusterSlot('a'.repeat(40))).toBe(9502)
    // Its second byte reads the table's last entry (index 255).
    expect(clusterSlot('j2')).toBe(13040)
  })
})
