import { digest } from '../keys.js'

/**
 * The Redis key of one counter: `${prefix}:{${digest(id)}}:${policyName}`.
 *
 * - Bounded: the identifier becomes a 43-character SHA-256 digest whatever its length.
 * - Injective: the prefix holds no `{`, the digest has a fixed length and policy names hold no `:`,
 *   so a key splits back into its parts one way only.
 * - One Cluster slot per decision: the hash tag is the digest alone (base64url, never a brace),
 *   so every policy of one identifier hashes to the same slot whatever the identifier contains.
 */
export function counterKey(prefix: string, id: string, policyName: string): string {
  return `${prefix}:{${digest(id)}}:${policyName}`
}

/** The keys of one decision, in policy order. */
export function counterKeys(prefix: string, id: string, policyNames: readonly string[]): string[] {
  const tag = `${prefix}:{${digest(id)}}:`
  return policyNames.map((name) => tag + name)
}
