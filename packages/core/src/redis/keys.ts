import { counterName, digest } from '../keys.js'
import type { Policy } from '../policies/types.js'

/**
 * The Redis key of one policy's counter: `${prefix}:{${digest(id)}}:${counterName(policy)}`, e.g.
 * `floodgate:{…}:api:f60000`.
 *
 * - Bounded: the identifier becomes a 43-character SHA-256 digest whatever its length.
 * - Injective: the prefix holds no `{`, the digest has a fixed length and policy names hold no `:`,
 *   so a key splits back into its parts one way only.
 * - One Cluster slot per decision: the hash tag is the digest alone (base64url, never a brace),
 *   so every policy of one identifier hashes to the same slot whatever the identifier contains.
 */
export function counterKey(prefix: string, id: string, policy: Policy): string {
  return `${prefix}:{${cachedDigest(id)}}:${counterName(policy)}`
}

/** The keys of one decision, in policy order. */
export function counterKeys(prefix: string, id: string, policies: readonly Policy[]): string[] {
  const tag = `${prefix}:{${cachedDigest(id)}}:`
  return policies.map((policy) => tag + counterName(policy))
}

/**
 * Identifiers per generation of the digest cache. A hashed identifier is about 150 bytes here, so
 * the two generations hold at most ~5 MB; an identifier seen again within the last
 * 16,384 to 32,768 distinct ones skips its SHA-256 (about 1 µs, the largest client cost of a key),
 * and while the identifiers in use fit one generation, a lookup is one Map read.
 */
export const DIGEST_CACHE_GENERATION = 16_384

// Two generations: lookups promote into `young`; when it fills, it becomes `old` and the previous
// `old` is dropped whole, an LRU approximation that costs no bookkeeping per hit.
let young = new Map<string, string>()
let old = new Map<string, string>()

/** `digest(id)`, remembered for recently seen identifiers. */
export function cachedDigest(id: string): string {
  let d = young.get(id)
  if (d !== undefined) return d
  d = old.get(id) ?? digest(id)
  if (young.size >= DIGEST_CACHE_GENERATION) {
    old = young
    young = new Map()
  }
  young.set(id, d)
  return d
}

/** How many identifiers the digest cache holds now (for tests: it must stay bounded). */
export function digestCacheSize(): number {
  return young.size + old.size
}

/** CRC16 (XMODEM, polynomial 0x1021) of each byte value, as Redis Cluster hashes keys. */
const CRC16_TABLE = (() => {
  const table = new Uint16Array(256)
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
    table[byte] = crc
  }
  return table
})()

/**
 * The Redis Cluster slot of a hash tag: CRC16 of its bytes, modulo 16384, as Redis computes it.
 * Digests are ASCII, so their bytes are their character codes.
 */
export function clusterSlot(tag: string): number {
  let crc = 0
  for (let i = 0; i < tag.length; i++) {
    crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ tag.charCodeAt(i)) & 0xff]!
  }
  return crc & 16383
}
