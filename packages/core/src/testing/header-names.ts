import { get } from 'node:http'
import { expect } from 'vitest'

const RATE_LIMIT = /^(x-)?ratelimit|^retry-after$/i
const CONTENT_TYPE = /^content-type$/i
/** The names of the default headers (draft-8 + legacy) in the order Floodgate writes them. */
const DEFAULT_NAMES = [
  'ratelimit-policy',
  'ratelimit',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
]

/**
 * Checks the spelling an adapter puts on the wire (`fetch` and most clients lowercase every name,
 * so they cannot tell). Point it at an app whose limiter, with the default headers, admits one
 * request: it GETs `url` twice and expects the rate-limit names of the 200, and of the 429 with its
 * `retry-after` and `content-type`, in lowercase and in the order Floodgate writes them.
 */
export async function expectLowercaseHeaderNames(url: string): Promise<void> {
  const allowed = await headerNamesAsSent(url)
  const denied = await headerNamesAsSent(url)
  expect([allowed.status, denied.status]).toEqual([200, 429])
  expect(allowed.names.filter((n) => RATE_LIMIT.test(n))).toEqual(DEFAULT_NAMES)
  expect(denied.names.filter((n) => RATE_LIMIT.test(n) || CONTENT_TYPE.test(n))).toEqual([
    ...DEFAULT_NAMES,
    'retry-after',
    'content-type',
  ])
}

/** A GET's status and its header names as the server wrote them (Node keeps them in rawHeaders). */
function headerNamesAsSent(url: string): Promise<{ status: number; names: string[] }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      res.resume()
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, names: res.rawHeaders.filter((_, i) => i % 2 === 0) })
      })
      res.on('error', reject)
    }).on('error', reject)
  })
}
