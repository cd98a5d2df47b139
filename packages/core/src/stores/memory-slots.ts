import { ERROR_CODES, FloodgateError } from '../errors.js'
import type { Policy } from '../policies/types.js'
import { BucketSlot } from './bucket-slot.js'
import { FixedSlot } from './fixed-slot.js'
import { SlidingSlot } from './sliding-slot.js'
import type { KeyCounter, Slot } from './slot.js'

export type { KeyCounter, Slot } from './slot.js'

export function createSlot(policy: Policy, keys: KeyCounter): Slot {
  switch (policy.kind) {
    case 'fixed-window':
      return new FixedSlot(policy, keys)
    case 'sliding-window':
      return new SlidingSlot(policy, keys)
    case 'token-bucket':
      return new BucketSlot(policy, keys)
  }
}

/** Throws when a store already holds a counter of that name with another kind or period. */
export function assertCompatible(slot: Slot, policy: Policy, prefix: string): void {
  const periodMs = policy.kind === 'token-bucket' ? policy.intervalMs : policy.windowMs
  if (slot.kind !== policy.kind || slot.periodMs !== periodMs) {
    throw new FloodgateError(
      ERROR_CODES.POLICY_CONFLICT,
      `Policy "${policy.name}" under prefix "${prefix}" is a ${policy.kind} of ${periodMs} ms, but this store already counts "${policy.name}" as a ${slot.kind} of ${slot.periodMs} ms. Give one of them another name or prefix.`,
      { option: 'policies', value: policy.name },
    )
  }
}
