import { memoryStore } from '../stores/memory-store.js'
import { policyProperties } from './policy-properties.js'

// Issue #5, "Done when" 5: at least 1,000 traces per policy on the memory store. The Redis and
// Upstash stores run the same properties from their own test files.
policyProperties('memory', (clock) => memoryStore({ clock }), { numRuns: 1_000 })
