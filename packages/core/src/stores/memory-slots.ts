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
