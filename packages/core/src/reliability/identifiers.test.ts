import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../errors.js'
import { createRateLimiter, type RateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy } from '../policies/types.js'
import { memoryStore } from '../stores/memory-store.js'
import { manualClock } from '../testing/manual-clock.js'
import { HOSTILE_IDENTIFIERS } from './hostile-identifiers.js'

// Issue #5, key attacks on the memory store: hostile identifiers and key parts that a naive join
// (`${prefix}:${policy}:${id}`) would confuse.

const START_MS = 1_800_000_000_000
const kinds: [string, (name: string) => Policy][] = [
  ['fixed window', (name) => fixedWindow({ name, limit: 2, window: '1 m' })],
  ['sliding window', (name) => slidingWindow({ name, limit: 2, window: '1 m' })],
  ['token bucket', (name) => tokenBucket({ name, capacity: 2, refillRate: 1, interval: '1 h' })],
]

const remainingOf = async (limiter: RateLimiter, id: string) => (await limiter.limit(id)).remaining

describe('hostile identifiers', () => {
  it.each(kinds)(
    '%s: 10 KB, NUL, emoji, lone surrogates, NFC/NFD and __proto__-like identifiers each get their own bucket',
    async (_kind, make) => {
      const ids = HOSTILE_IDENTIFIERS
      expect(new Set(ids).size).toBe(ids.length)
      const limiter = createRateLimiter({
        policies: make('p'),
        store: memoryStore({ clock: manualClock(START_MS) }),
        logger: false,
      })
      // First request of each: a fresh bucket (no identifier merged with an earlier one).
      for (const id of ids) expect(await remainingOf(limiter, id), JSON.stringify(id.slice(0, 20))).toBe(1)
      // Second: the same bucket as the first.
      for (const id of ids) expect(await remainingOf(limiter, id)).toBe(0)
      for (const id of ids) expect((await limiter.limit(id)).reason).toBe('limited')
      // Resetting one touches no other.
      await limiter.reset('__proto__')
      expect(await remainingOf(limiter, '__proto__')).toBe(1)
      expect((await limiter.limit('constructor')).reason).toBe('limited')
      expect((await limiter.limit('x'.repeat(128))).reason).toBe('limited')
    },
  )

  it('rejects an identifier that is not a string with ERR_FLOODGATE_INVALID_IDENTIFIER', async () => {
    const limiter = createRateLimiter({ policies: kinds[0]![1]('p'), logger: false })
    for (const id of [undefined, null, 42, { toString: () => 'a' }, ['a']]) {
      await expect(limiter.limit(id as string)).rejects.toMatchObject({
        code: ERROR_CODES.INVALID_IDENTIFIER,
        option: 'identifier',
        value: id,
      })
    }
  })
})

describe('key parts that a naive join would collide', () => {
  /** Exhausts `a` and checks `b` is untouched, on one shared store. */
  async function expectApart(
    a: { limiter: RateLimiter; id: string },
    b: { limiter: RateLimiter; id: string },
  ) {
    for (let i = 0; i < 2; i++) await a.limiter.limit(a.id)
    expect((await a.limiter.limit(a.id)).reason).toBe('limited')
    expect(await remainingOf(b.limiter, b.id)).toBe(1)
    expect(await remainingOf(b.limiter, b.id)).toBe(0)
    expect((await a.limiter.limit(a.id)).reason).toBe('limited')
  }

  it.each(kinds)(
    '%s: prefix "p" + id "q:r" and prefix "p:q" + id "r" are different counters',
    async (_k, make) => {
      const store = memoryStore({ clock: manualClock(START_MS) })
      const policies = make('fw')
      const limiter = (prefix: string) => createRateLimiter({ policies, store, prefix, logger: false })
      await expectApart({ limiter: limiter('p'), id: 'q:r' }, { limiter: limiter('p:q'), id: 'r' })
    },
  )

  it.each(kinds)(
    '%s: policy "a" + id "b.c" and policy "a.b" + id "c" are different counters (also with - and _)',
    async (_k, make) => {
      for (const sep of ['.', '-', '_']) {
        const store = memoryStore({ clock: manualClock(START_MS) })
        const limiter = (name: string) => createRateLimiter({ policies: make(name), store, logger: false })
        await expectApart(
          { limiter: limiter('a'), id: `b${sep}c` },
          { limiter: limiter(`a${sep}b`), id: 'c' },
        )
      }
    },
  )

  it('a NUL or a colon in an identifier cannot reach into the prefix or the policy name', async () => {
    const store = memoryStore({ clock: manualClock(START_MS) })
    const policies = fixedWindow({ name: 'a', limit: 2, window: '1 m' })
    const limiter = (prefix: string) => createRateLimiter({ policies, store, prefix, logger: false })
    // The memory store joins prefix and policy name with NUL: an identifier holding NUL stays apart.
    await expectApart({ limiter: limiter('p'), id: 'a\0b' }, { limiter: limiter('p'), id: 'b' })
    await expectApart({ limiter: limiter('p'), id: '\0x\0y' }, { limiter: limiter('p'), id: 'x\0y' })
    // Names that could imitate a separator are refused when the limiter is built.
    expect(() => fixedWindow({ name: 'a:b', limit: 1, window: '1 m' })).toThrow(
      expect.objectContaining({ code: ERROR_CODES.INVALID_OPTION }),
    )
    expect(() => fixedWindow({ name: 'a\0b', limit: 1, window: '1 m' })).toThrow(
      expect.objectContaining({ code: ERROR_CODES.INVALID_OPTION }),
    )
    for (const prefix of ['p\0q', 'p{q}', 'p q', '']) {
      expect(() => createRateLimiter({ policies, prefix })).toThrow(
        expect.objectContaining({ code: ERROR_CODES.INVALID_OPTION }),
      )
    }
  })

  it('a 10 KB identifier is kept apart from its first 128 characters and from a 10 KB one differing in its last character', async () => {
    const limiter = createRateLimiter({
      policies: fixedWindow({ limit: 2, window: '1 m' }),
      store: memoryStore({ clock: manualClock(START_MS) }),
      logger: false,
    })
    const long = 'k'.repeat(10 * 1024)
    await expectApart({ limiter, id: long }, { limiter, id: long.slice(0, 128) })
    await expectApart({ limiter, id: `${long}!` }, { limiter, id: `${long}?` })
  })
})
