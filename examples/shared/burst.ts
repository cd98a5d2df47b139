/** One answer of a burst: the status and every response header (names in lower case). */
export interface Answer {
  status: number
  headers: Record<string, string>
  body: string
}

export interface BurstResult {
  answers: Answer[]
  admitted: number
  limited: number
  /** The first 429, if any. */
  firstLimited: Answer | undefined
}

/** Sends `count` requests one after another (so the counts are exact) and tallies the answers. */
export async function sendBurst(url: string, count: number, init: RequestInit = {}): Promise<BurstResult> {
  const answers: Answer[] = []
  for (let i = 0; i < count; i++) {
    const response = await fetch(url, init)
    answers.push({
      status: response.status,
      headers: Object.fromEntries(response.headers),
      body: await response.text(),
    })
  }
  return {
    answers,
    admitted: answers.filter((a) => a.status < 400).length,
    limited: answers.filter((a) => a.status === 429).length,
    firstLimited: answers.find((a) => a.status === 429),
  }
}

/** The rate-limit headers of an answer (RateLimit*, X-RateLimit-*, Retry-After), in a stable order. */
export function rateLimitHeadersOf(answer: Answer): [string, string][] {
  return Object.entries(answer.headers)
    .filter(([name]) => /^(ratelimit|x-ratelimit-|retry-after)/.test(name))
    .sort(([a], [b]) => a.localeCompare(b))
}
