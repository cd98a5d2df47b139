// Test helpers shared by the reference-transition tests of the three policies.
import { transition } from './evaluate.js'
import type { Policy, PolicyOutcome, PolicyState } from './types.js'

/** Runs [atMs, cost] steps through a policy's reference transition, keeping state only when admitted. */
export function runTrace(policy: Policy, steps: [number, number][]): PolicyOutcome[] {
  let state: PolicyState | undefined
  return steps.map(([atMs, cost]) => {
    const t = transition(policy, state, cost, atMs)
    if (t.outcome.allowed) state = t.next
    return t.outcome
  })
}

/** An admitted outcome. */
export const ok = (remaining: number, resetAtMs: number): PolicyOutcome => ({
  allowed: true,
  remaining,
  resetAtMs,
  retryAfterMs: 0,
})

/** A denied outcome. */
export const no = (remaining: number, resetAtMs: number, retryAfterMs: number): PolicyOutcome => ({
  allowed: false,
  remaining,
  resetAtMs,
  retryAfterMs,
})
