import { describe, expect, it } from 'vitest'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy } from '../policies/types.js'
import type { StoreResponse } from '../store.js'
import { memoryStore } from '../stores/memory-store.js'
import { manualClock } from '../testing/manual-clock.js'

// Issue #5, "Done when" 4: a flood of 2,000,000 identifiers in one window against maxKeys 100,000.
// Cost per call is measured without timing: the store counts the keys it examines.

const FLOOD = 2_000_000
const MAX_KEYS = 100_000
/** EVICTION_BUDGET (64) + SWEEP_PER_CALL (4) in memory-store.ts: the most one call may examine. */
const PER_CALL_BOUND = 64 + 4
const HOUR_MS = 3_600_000
const START_MS = 500_000 * HOUR_MS // an hour boundary

// The sliding window's flood starts 1 s before a boundary and crosses it: the victim's count moves
// to the previous window and must keep holding it back. The others stay inside one window.
const kinds: [string, Policy, number][] = [
  ['fixed window', fixedWindow({ name: 'fw', limit: 5, window: '1 h' }), START_MS],
  ['sliding window', slidingWindow({ name: 'sw', limit: 5, window: '1 h' }), START_MS + HOUR_MS - 1_000],
  ['token bucket', tokenBucket({ name: 'tb', capacity: 5, refillRate: 1, interval: '1 h' }), START_MS],
]

describe('memory store under a flood of 2,000,000 identifiers (maxKeys 100,000)', () => {
  it.each(kinds)(
    '%s: size never exceeds maxKeys, the victim stays limited, each call examines a bounded number of keys',
    (_kind, policy, startMs) => {
      const clock = manualClock(startMs)
      const store = memoryStore({ clock, maxKeys: MAX_KEYS })
      const policies = [policy]
      const consume = (id: string, peek = false) =>
        store.consume({ prefix: 'flood', id, policies, cost: 1, peek }) as StoreResponse
      for (let i = 0; i < 5; i++) expect(consume('victim').outcomes[0]!.allowed).toBe(true)
      const before = consume('victim')
      expect(before.outcomes[0]!.allowed).toBe(false)
      const victimFreeAtMs = before.nowMs + before.outcomes[0]!.retryAfterMs

      let largestSize = 0
      let mostExamined = 0
      let admitted = 0
      const rescannedBefore = store.rescanned
      const examinedBefore = store.examined
      for (let i = 0; i < FLOOD; i++) {
        const examined = store.examined
        if (consume(`attacker-${i}`).outcomes[0]!.allowed) admitted++
        const delta = store.examined - examined
        if (delta > mostExamined) mostExamined = delta
        if (i % 1_000 === 0) {
          clock.advance(1) // 2 s across the flood
          largestSize = Math.max(largestSize, store.size)
        }
        if (i % 250_000 === 0) expect(consume('victim', true).outcomes[0]!.allowed).toBe(false)
      }
      largestSize = Math.max(largestSize, store.size)

      expect(admitted).toBe(FLOOD) // every attacker identifier is new: each gets its own fresh count
      expect(largestSize).toBe(MAX_KEYS)
      expect(mostExamined).toBeGreaterThan(0) // eviction did run: the bound below is not vacuous
      expect(mostExamined).toBeLessThanOrEqual(PER_CALL_BOUND)
      // A scan that starts over passes the map's keys again (a fresh Map iterator also skips its
      // deleted entries): that happens about once per pass, never once per call, so it adds no
      // more than the keys examined themselves.
      const examined = store.examined - examinedBefore
      expect(store.rescanned - rescannedBefore).toBeLessThanOrEqual(examined + MAX_KEYS)

      const after = consume('victim', true)
      expect(after.outcomes[0]).toMatchObject({ allowed: false, remaining: 0 })
      expect(after.nowMs + after.outcomes[0]!.retryAfterMs).toBe(victimFreeAtMs)
    },
    60_000,
  )
})
