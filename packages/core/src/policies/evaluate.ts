import { fixedWindowTransition } from './fixed-window.js'
import { slidingWindowTransition } from './sliding-window.js'
import { tokenBucketTransition } from './token-bucket.js'
import type {
  FixedWindowState,
  Policy,
  PolicyOutcome,
  PolicyState,
  SlidingWindowState,
  TokenBucketState,
  Transition,
} from './types.js'

/** The reference transition of any policy: (state, cost, now) → (outcome, next state). */
export function transition(
  policy: Policy,
  state: PolicyState | undefined,
  cost: number,
  nowMs: number,
): Transition {
  switch (policy.kind) {
    case 'fixed-window':
      return fixedWindowTransition(policy, state as FixedWindowState | undefined, cost, nowMs)
    case 'sliding-window':
      return slidingWindowTransition(policy, state as SlidingWindowState | undefined, cost, nowMs)
    case 'token-bucket':
      return tokenBucketTransition(policy, state as TokenBucketState | undefined, cost, nowMs)
  }
}

/** The outcome of several policies on one request, and the states to write if it was admitted. */
export interface Evaluation {
  /** Whether every policy admits the request. */
  allowed: boolean
  /** One outcome per policy, in the order given. */
  outcomes: PolicyOutcome[]
  /** Per policy: the transition taken; write `next` (with `expiresAtMs`) only when `allowed`. */
  transitions: Transition[]
}

/**
 * All-or-nothing evaluation of several policies (DESIGN §3): the request is admitted only if every
 * policy admits it. When one denies, none is charged, and the policies that would have admitted it
 * report their uncharged remaining quota. Every store must give exactly these outcomes.
 */
export function evaluatePolicies(
  policies: readonly Policy[],
  states: readonly (PolicyState | undefined)[],
  cost: number,
  nowMs: number,
): Evaluation {
  const transitions = policies.map((policy, i) => transition(policy, states[i], cost, nowMs))
  const allowed = transitions.every((t) => t.outcome.allowed)
  if (!allowed) {
    for (let i = 0; i < policies.length; i++) {
      if (transitions[i]!.outcome.allowed) transitions[i] = transition(policies[i]!, states[i], 0, nowMs)
    }
  }
  return { allowed, outcomes: transitions.map((t) => t.outcome), transitions }
}
