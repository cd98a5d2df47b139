import { describe, expect, it } from 'vitest'
import { seededRandom } from '../testing/cases-traces.js'
import { transition } from './evaluate.js'
import { fixedWindow } from './fixed-window.js'
import { slidingWindow } from './sliding-window.js'
import { tokenBucket } from './token-bucket.js'
import type { Policy, PolicyState } from './types.js'

// DESIGN §3: retryAfterMs is the EARLIEST instant the same request is admitted if nothing else
// arrives, and resetAtMs the instant the quota is whole again. Both are checked here by probing
// the reference at that instant and one millisecond before, over seeded random histories.

const quota = (p: Policy) => (p.kind === 'token-bucket' ? p.capacity : p.limit)

function randomPolicy(random: () => number): Policy {
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1))
  const periodMs = [1, 7, 1_000, 1_500, 60_000, 86_400_000][int(0, 5)]!
  const limit = int(1, 40)
  switch (int(0, 2)) {
    case 0:
      return fixedWindow({ limit, window: periodMs })
    case 1:
      return slidingWindow({ limit, window: periodMs })
    default:
      return tokenBucket({ capacity: limit, refillRate: int(1, 9), interval: periodMs })
  }
}

describe('reference retryAfterMs and resetAtMs', () => {
  it('are exact on 3,000 random histories of every policy kind', () => {
    const random = seededRandom(42)
    let denials = 0
    for (let trial = 0; trial < 3_000; trial++) {
      const policy = randomPolicy(random)
      const periodMs = policy.kind === 'token-bucket' ? policy.intervalMs : policy.windowMs
      let state: PolicyState | undefined
      let nowMs = 1_700_000_000_000 + Math.floor(random() * periodMs)
      const steps = 1 + Math.floor(random() * 30)
      for (let i = 0; i < steps; i++) {
        nowMs += Math.floor(random() * random() * periodMs * 0.5)
        const cost = 1 + Math.floor(random() * random() * quota(policy))
        const t = transition(policy, state, cost, nowMs)
        if (t.outcome.allowed) state = t.next
      }
      const cost = 1 + Math.floor(random() * quota(policy))
      const { outcome, next } = transition(policy, state, cost, nowMs)
      const at = (ms: number, k = cost) => transition(policy, state, k, ms).outcome
      if (!outcome.allowed) {
        denials += 1
        expect(outcome.retryAfterMs).toBeGreaterThan(0)
        expect(at(nowMs + outcome.retryAfterMs).allowed).toBe(true)
        expect(at(nowMs + outcome.retryAfterMs - 1).allowed).toBe(false)
      }
      // Whole again at resetAtMs (from the state this decision leaves), and not a ms earlier.
      const after = outcome.allowed ? next : state
      const whole = transition(policy, after, 0, outcome.resetAtMs).outcome.remaining
      expect(whole).toBe(quota(policy))
      if (outcome.resetAtMs > nowMs) {
        const before = transition(policy, after, 0, outcome.resetAtMs - 1).outcome.remaining
        if (!(policy.kind === 'fixed-window' && before === quota(policy)))
          expect(before).toBeLessThan(quota(policy))
      }
    }
    expect(denials).toBeGreaterThan(300)
  })
})
