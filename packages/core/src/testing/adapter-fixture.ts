import { parseDictionary, parseList } from 'structured-headers'
import { expect } from 'vitest'
import { fixedWindow } from '../policies/fixed-window.js'
import type { Policy } from '../policies/types.js'
import type { RateLimitStore } from '../store.js'
import { memoryStore } from '../stores/memory-store.js'
import type { BehaviourOptions, BehaviourResponse } from './adapter-behaviour.js'
import { type ManualClock, manualClock } from './manual-clock.js'

/** 20 s into a minute-aligned window: a fixed window of 1 m resets 40 s later. */
export const BEHAVIOUR_START_MS = 1_800_000_020_000
export const WINDOW_END_MS = 1_800_000_060_000

/** A clock, a memory store on it and a logger that keeps its messages. */
export interface BehaviourFixture {
  clock: ManualClock
  store: RateLimitStore
  warnings: string[]
  logger: { warn(message: string): void }
  /** Limiter options for `policies` on this fixture's store and logger. */
  options(policies: Policy | Policy[], extra?: BehaviourOptions): BehaviourOptions
}

export function behaviourFixture(): BehaviourFixture {
  const clock = manualClock(BEHAVIOUR_START_MS)
  const store = memoryStore({ clock })
  const warnings: string[] = []
  const logger = { warn: (message: string) => void warnings.push(message) }
  return {
    clock,
    store,
    warnings,
    logger,
    options: (policies, extra = {}) => ({ policies, store, logger, ...extra }),
  }
}

/** A fixed window of `limit` per minute named `name`. */
export function perMinute(limit: number, name = 'fw'): Policy {
  return fixedWindow({ name, limit, window: '1 m' })
}

/** The members of a draft-8 `RateLimit-Policy` or `RateLimit` field, parsed as a structured List. */
export function listMembers(value: string | null): { name: string; params: Record<string, unknown> }[] {
  expect(value).not.toBeNull()
  return parseList(value!).map(([item, params]) => {
    expect(typeof item).toBe('string')
    return { name: item as string, params: Object.fromEntries(params) }
  })
}

/** A draft-7 `RateLimit` dictionary as plain numbers. */
export function dictionary(value: string | null): Record<string, unknown> {
  expect(value).not.toBeNull()
  return Object.fromEntries([...parseDictionary(value!)].map(([key, [item]]) => [key, item]))
}

/** The JSON body a route answers: the decision's `remaining` as the framework exposed it. */
export function exposedRemaining(response: BehaviourResponse): number | null {
  expect(response.status).toBe(200)
  return (JSON.parse(response.body) as { remaining: number | null }).remaining
}

/** A store that always fails, as a crashed Redis would. */
export function brokenStore(): RateLimitStore {
  return {
    name: 'broken',
    local: true,
    consume() {
      throw new Error('connection refused')
    },
    reset() {},
    close() {},
  }
}

/** Sends `count` GETs in sequence and returns their statuses. */
export async function statuses(
  get: (path: string, headers?: Record<string, string>) => Promise<BehaviourResponse>,
  count: number,
  path = '/',
  headers: Record<string, string> = {},
): Promise<number[]> {
  const result: number[] = []
  for (let i = 0; i < count; i++) result.push((await get(path, headers)).status)
  return result
}
