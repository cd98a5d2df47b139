import { describe, expect, it } from 'vitest'
import { counterName } from '../keys.js'
import { evaluatePolicies, transition } from '../policies/evaluate.js'
import type { Policy, PolicyState } from '../policies/types.js'
import type { RateLimitStore, StoreRequest, StoreResponse } from '../store.js'
import { conformanceGroups } from './conformance.js'
import { type ConformanceCase, type StoreConformanceOptions, withFixture } from './conformance-fixture.js'

// The kit must be able to fail: each deliberately broken store below is caught by the case that
// targets its bug, while the same store without the bug passes every case.

type Bug =
  | 'none'
  | 'naive-key-join'
  | 'glob-reset'
  | 'peek-writes'
  | 'clock-off-by-one'
  | 'charges-on-denial'
  | 'read-then-write-race'
  | 'utf8-key'
  | 'key-cut-at-64'
  | 'stored-policy'
  | 'charge-policy-by-policy'
  | 'now-read-late'
  | 'name-only-key'
  | 'queue-per-instance'
  | 'reorder-by-cost'
  | 'float-weight'
  | 'joined-without-separator'
  | 'writes-back-on-denial'
  | 'reset-by-name'

function globToRegExp(glob: string): RegExp {
  const body = [...glob].map((ch) =>
    ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&'),
  )
  return new RegExp(`^${body.join('')}$`, 's')
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

/**
 * The backend every toy store shares, as stores of several processes share one Redis: the kit's
 * prefixes keep its cases apart.
 */
const backend = new Map<string, { id: string; state: PolicyState; policy: Policy }>()

function toyStore(clock: () => number, bug: Bug): RateLimitStore {
  const states = backend
  // Calls one at a time, within this instance only (a lock in the process).
  let queue: Promise<unknown> = Promise.resolve()
  // A counter is (prefix, counterName(policy), identifier); with either bug, (prefix, name, identifier).
  const counterOf = (policy: Policy) =>
    bug === 'name-only-key' || bug === 'naive-key-join' ? policy.name : counterName(policy)
  const keyOf = (prefix: string, name: string, id: string) =>
    bug === 'naive-key-join'
      ? `${prefix}:${name}:${id}`
      : bug === 'utf8-key'
        ? JSON.stringify([prefix, name, Buffer.from(id).toString('base64')])
        : bug === 'key-cut-at-64'
          ? JSON.stringify([prefix, name, id.slice(0, 64)])
          : bug === 'joined-without-separator'
            ? JSON.stringify([prefix + name, id])
            : JSON.stringify([prefix, name, id])
  const decide = async (request: StoreRequest): Promise<StoreResponse> => {
    let nowMs = clock()
    const keys = request.policies.map((p) => keyOf(request.prefix, counterOf(p), request.id))
    if (bug === 'charge-policy-by-policy' && request.policies.length > 1 && !request.peek) {
      return chargePolicyByPolicy(states, keys, request, nowMs)
    }
    const before = keys.map((k) => states.get(k)?.state)
    // The limits the state was first written under, not the request's (a tier change ignored).
    const policies =
      bug === 'stored-policy'
        ? request.policies.map((p, i) => states.get(keys[i]!)?.policy ?? p)
        : request.policies
    if (bug === 'read-then-write-race' || bug === 'queue-per-instance') await nextTurn()
    const atMs = bug === 'clock-off-by-one' ? nowMs + 1 : nowMs
    const evaluation = evaluatePolicies(policies, before, request.cost, atMs)
    if (bug === 'float-weight' && evaluation.allowed && !floatAdmits(policies, before, request.cost, atMs)) {
      const [denied] = evaluation.outcomes
      return { nowMs, outcomes: [{ ...denied!, allowed: false, remaining: 0, retryAfterMs: 1 }] }
    }
    if (bug === 'now-read-late') {
      await nextTurn()
      nowMs = clock()
    }
    if (!request.peek || bug === 'peek-writes') {
      request.policies.forEach((policy, i) => {
        if (evaluation.allowed)
          states.set(keys[i]!, {
            id: request.id,
            state: evaluation.transitions[i]!.next,
            policy: states.get(keys[i]!)?.policy ?? policy,
          })
        else if (bug === 'charges-on-denial') {
          const charged = transition(policy, before[i], request.cost, atMs)
          if (charged.outcome.allowed) states.set(keys[i]!, { id: request.id, state: charged.next, policy })
        } else if (bug === 'writes-back-on-denial') {
          // The state brought up to now under the request's policy (a bucket refilled, capped at its
          // capacity), written back whatever the answer.
          states.set(keys[i]!, { id: request.id, state: transition(policy, before[i], 0, atMs).next, policy })
        }
      })
    }
    return { nowMs, outcomes: evaluation.outcomes }
  }
  return {
    name: `toy (${bug})`,
    local: true,
    consume(request) {
      if (bug === 'queue-per-instance') {
        const answer = queue.then(() => decide(request))
        queue = answer.catch(() => undefined)
        return answer
      }
      if (bug === 'reorder-by-cost') {
        // Each unit of cost one more turn on the way: a larger cost is overtaken by a smaller one.
        let waited: Promise<unknown> = Promise.resolve()
        for (let i = 0; i < request.cost; i++) waited = waited.then(nextTurn)
        return waited.then(() => decide(request))
      }
      return decide(request)
    },
    reset(request) {
      for (const policy of request.policies) {
        if (bug === 'reset-by-name') {
          // Every counter of the name, whatever its kind or period (a pattern on the key).
          const start = JSON.stringify([request.prefix, `${policy.name}:`]).slice(0, -2)
          for (const [key, entry] of states) {
            if (key.startsWith(start) && entry.id === request.id) states.delete(key)
          }
          continue
        }
        if (bug !== 'glob-reset') {
          states.delete(keyOf(request.prefix, counterOf(policy), request.id))
          continue
        }
        const pattern = globToRegExp(request.id)
        for (const [key, entry] of states) {
          if (
            key.startsWith(JSON.stringify([request.prefix, counterOf(policy)]).slice(0, -1)) &&
            pattern.test(entry.id)
          )
            states.delete(key)
        }
      }
    },
    close() {},
  }
}

/**
 * Charges each policy in turn, atomically for that policy, with a turn of the event loop between
 * policies, and puts back what it had charged when a later one denies: concurrent calls see the
 * charges of a request that is then refused, and the put-back undoes their own charges.
 */
async function chargePolicyByPolicy(
  states: Map<string, { id: string; state: PolicyState; policy: Policy }>,
  keys: readonly string[],
  request: StoreRequest,
  nowMs: number,
): Promise<StoreResponse> {
  const undo: [string, { id: string; state: PolicyState; policy: Policy } | undefined][] = []
  const outcomes = []
  for (const [i, policy] of request.policies.entries()) {
    const before = states.get(keys[i]!)
    const step = transition(policy, before?.state, request.cost, nowMs)
    outcomes.push(step.outcome)
    if (!step.outcome.allowed) {
      for (const [key, entry] of undo) {
        if (entry === undefined) states.delete(key)
        else states.set(key, entry)
      }
      const now = keys.map((key) => states.get(key)?.state)
      const answer = evaluatePolicies(request.policies, now, request.cost, nowMs).outcomes
      answer[i] = step.outcome // the denial it met, whatever the others' states are now
      return { nowMs, outcomes: answer }
    }
    undo.push([keys[i]!, before])
    states.set(keys[i]!, { id: request.id, state: step.next, policy })
    await nextTurn()
  }
  return { nowMs, outcomes }
}

const optionsFor = (bug: Bug): StoreConformanceOptions => ({
  name: bug,
  sharedState: true,
  createStore: ({ clock }) => toyStore(clock, bug),
})

/**
 * A one-policy sliding window's admission with the weight in floating point, `p·((W − e)/W)`: a
 * spelling that is exact whenever `p` is at most the limit, and off at some instants once it is
 * above it (after a tier downgrade).
 */
function floatAdmits(
  policies: readonly Policy[],
  before: readonly (PolicyState | undefined)[],
  cost: number,
  nowMs: number,
): boolean {
  const [policy] = policies
  if (policies.length !== 1 || policy?.kind !== 'sliding-window') return true
  const w = policy.windowMs
  const window = Math.floor(nowMs / w)
  const state = before[0] as { window: number; used: number; previousUsed: number } | undefined
  const used = state?.window === window ? state.used : 0
  const previous =
    state?.window === window ? state.previousUsed : state?.window === window - 1 ? state.used : 0
  return previous * ((w - (nowMs - window * w)) / w) + used + cost <= policy.limit
}

const groups = conformanceGroups()
const allCases = Object.values(groups).flat()

function find(group: string, name: string): ConformanceCase {
  const found = groups[group]?.find((c) => c.name.startsWith(name))
  if (found === undefined) throw new Error(`no case ${group} > ${name}`)
  return found
}

describe('the store conformance kit', () => {
  it('passes a correct store on every case', async () => {
    for (const c of allCases) await withFixture(optionsFor('none'), c.run)()
  })

  const catches: [Bug, string, string][] = [
    ['naive-key-join', 'fixed-window', 'keeps prefixes and policy names apart'],
    ['glob-reset', 'sliding-window', 'resets exactly the literal identifier'],
    ['peek-writes', 'token-bucket', 'answers a peek as the next consume would'],
    ['clock-off-by-one', 'fixed-window', 'gives the reference decisions across boundary instants'],
    ['clock-off-by-one', 'token-bucket', 'gives the reference decisions across boundary instants'],
    ['charges-on-denial', 'several policies on one request', 'charges none of the policies'],
    ['read-then-write-race', 'sliding-window', 'admits exactly the limit'],
    ['glob-reset', 'generated traces', 'matches the reference on generated traces: all three'],
    ['utf8-key', 'fixed-window', 'keeps apart identifiers that a byte encoding'],
    ['key-cut-at-64', 'sliding-window', 'keeps apart identifiers of up to 128 characters'],
    ['stored-policy', 'token-bucket', 'caps the tokens held at a smaller capacity'],
    ['stored-policy', 'token-bucket', 'refills at the refill rate of the request'],
    ['charge-policy-by-policy', 'several policies on one request', 'charges several policies all or nothing'],
    ['read-then-write-race', 'calls in flight', 'applies a reset after the calls made before it'],
    ['now-read-late', 'calls in flight', 'answers for the instant it decided at'],
    ['name-only-key', 'fixed-window', 'counts a policy name apart under another kind or period'],
    ['name-only-key', 'token-bucket', 'counts a policy name apart under another kind or period'],
    ['queue-per-instance', 'two stores on one backend', 'fixed-window: admits exactly the limit'],
    ['queue-per-instance', 'two stores on one backend', 'token-bucket: admits exactly the limit'],
    ['reorder-by-cost', 'calls in flight', 'applies charges in the order they are made'],
    ['float-weight', 'sliding-window', 'admits exactly at each retry instant under a smaller limit'],
    ['joined-without-separator', 'sliding-window', 'keeps prefixes and policy names apart'],
    ['reset-by-name', 'sliding-window', 'counts a policy name apart under another kind or period'],
    ['writes-back-on-denial', 'token-bucket', "leaves a larger capacity's tokens alone on a denial"],
  ]
  for (const [bug, group, name] of catches) {
    it(`catches a store with the bug "${bug}" in ${group} > ${name}`, async () => {
      // An assertion of the kit's, not an error of the toy store's own.
      await expect(withFixture(optionsFor(bug), find(group, name).run)()).rejects.toMatchObject({
        name: 'AssertionError',
      })
    })
  }
})
