import type { Decision } from '../decision.js'
import { problemDetail, QUOTA_EXCEEDED_TYPE, retryAfterSeconds } from '../headers.js'

// The serialised problem+json of a 429, the same string as JSON.stringify(problemDetails(decision)),
// written by template: stringifying the object cost about 2 µs of every denial.

const HEAD = `{"type":${JSON.stringify(QUOTA_EXCEEDED_TYPE)},"title":"Too Many Requests","status":429,"detail":`

/** `JSON.stringify(problemDetails(decision))`, built without the intermediate object. */
export function problemBody(decision: Decision): string {
  const detail = problemDetail(decision)
  let violated = ''
  for (const p of decision.policies) {
    if (p.allowed) continue
    violated += violated === '' ? JSON.stringify(p.name) : `,${JSON.stringify(p.name)}`
  }
  return `${HEAD}${JSON.stringify(detail)},"violated-policies":[${violated}]}`
}

/** Past this many cached bodies the cache starts afresh, so odd Retry-After values cannot grow it. */
const MAX_CACHED_BODIES = 256

/**
 * The bodies of one middleware's denials. A plain one-policy denial depends only on the policy's
 * name and Retry-After, so the same string comes back for every denial of a client in the same
 * second, and adapters can key their own caches (a Buffer on Fastify) by it cheaply. Keyed by name,
 * then by seconds: a joined string key cost as much to hash as the body saved.
 */
export class ProblemBodies {
  private readonly cache = new Map<string, Map<number, string>>()
  private size = 0

  of(decision: Decision): string {
    const only = decision.policies.length === 1 ? decision.policies[0]! : undefined
    if (
      decision.reason !== 'limited' ||
      only === undefined ||
      only.allowed ||
      only.name !== decision.policy
    ) {
      return problemBody(decision)
    }
    // 0: no time to retry at (a denial that lasts, such as a deny list's); never a real Retry-After.
    const seconds = retryAfterSeconds(decision) ?? 0
    let bySeconds = this.cache.get(decision.policy)
    let body = bySeconds?.get(seconds)
    if (body !== undefined) return body
    if (this.size >= MAX_CACHED_BODIES) {
      this.cache.clear()
      this.size = 0
      bySeconds = undefined
    }
    if (bySeconds === undefined) {
      bySeconds = new Map()
      this.cache.set(decision.policy, bySeconds)
    }
    body = problemBody(decision)
    bySeconds.set(seconds, body)
    this.size++
    return body
  }
}
