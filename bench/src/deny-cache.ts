// The deny cache under a flood of distinct denied identifiers (each new one, once it is full, drops
// the oldest): the cost of remembering one must not grow with `maxEntries`. Until the seventeenth
// session each drop started a new Map iterator, which stepped over every entry deleted since the
// table was last rebuilt: O(maxEntries) per new identifier.
import type { Decision } from '@floodgate/core'
import { DenyCache } from '../../packages/core/src/deny-cache.js'
import { collectGarbage, formatRatio, median, table } from './harness.js'
import type { Section } from './section.js'

const SIZES = [10_000, 100_000, 1_000_000]
const NEW_IDS = 200_000
const ROUNDS = 3

const denial: Decision = {
  allowed: false,
  limit: 1,
  remaining: 0,
  resetAtMs: 2_000_000_000_000,
  retryAfterMs: 60_000,
  policy: 'p',
  tier: undefined,
  reason: 'limited',
  cost: 1,
  nowMs: 1_999_999_940_000,
  policies: [],
}

/** ns per `remember` of a new identifier into a cache already full of `size` others. */
function nsPerNewIdentifier(size: number, round: number): number {
  const cache = new DenyCache(size)
  for (let i = 0; i < size; i++) cache.remember(undefined, `full-${round}-${i}`, denial, cache.now())
  collectGarbage()
  const start = performance.now()
  for (let i = 0; i < NEW_IDS; i++) cache.remember(undefined, `new-${round}-${i}`, denial, cache.now())
  return ((performance.now() - start) * 1e6) / NEW_IDS
}

export const denyCacheSection: Section = {
  name: 'deny-cache',
  description: 'remembering a new denied identifier in a full deny cache, by its size',
  async run() {
    const results = SIZES.map((size) =>
      median(Array.from({ length: ROUNDS }, (_, r) => nsPerNewIdentifier(size, r))),
    )
    console.log(
      `${NEW_IDS.toLocaleString('en')} new identifiers into a full cache, median of ${ROUNDS} rounds; ` +
        'flat is the target (each drop of the oldest is O(1)).\n',
    )
    const rows = SIZES.map((size, i) => [
      size.toLocaleString('en'),
      `${Math.round(results[i]!)} ns`,
      `${formatRatio(results[i]! / results[0]!)}`,
    ])
    console.log(table(['maxEntries', 'per new identifier', '÷ 10,000 entries'], rows))
  },
}
