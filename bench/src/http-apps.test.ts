// The HTTP benchmark's floors are only floors if they send what Floodgate sends: the same header
// names and, for the 429, the same content type and body. These tests hold the constant variants to
// the real middleware's responses, so a change to Floodgate's answer cannot leave them behind.
import { afterEach, describe, expect, it } from 'vitest'
import { type BenchServer, FRAMEWORKS, ROUTE, startBenchServer, type Variant } from './http-apps.js'

interface Answer {
  status: number
  headers: Record<string, string>
  body: string
}

/** Headers every response carries whatever the variant (Node's own, and the body's length). */
const NODE_HEADERS = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'])

const started: BenchServer[] = []

afterEach(() => {
  for (const { server } of started.splice(0)) {
    server.closeAllConnections()
    server.close()
  }
})

/** The last of `count` answers of a server started with `variant` alone. */
async function lastAnswer(
  framework: (typeof FRAMEWORKS)[number],
  variant: Variant,
  count: number,
): Promise<Answer> {
  const bench = await startBenchServer(framework, variant)
  started.push(bench)
  const address = bench.server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  let answer: Answer | undefined
  for (let i = 0; i < count; i++) {
    const response = await fetch(`http://127.0.0.1:${address.port}${ROUTE}`)
    const headers: Record<string, string> = {}
    response.headers.forEach((value, name) => {
      if (!NODE_HEADERS.has(name)) headers[name] = value
    })
    answer = { status: response.status, headers, body: await response.text() }
  }
  return answer!
}

/** The body with its one varying figure, the seconds to wait, taken out. */
const withoutSeconds = (body: string) => body.replace(/retry in \d+ s/, 'retry in N s')

describe.each(FRAMEWORKS)('%s benchmark floors', (framework) => {
  it('headers-only sends the header names that Floodgate sends when it admits', async () => {
    const floor = await lastAnswer(framework, 'headers-only', 1)
    const floodgate = await lastAnswer(framework, 'floodgate-allowed', 1)
    expect(floodgate.status).toBe(200)
    expect(floor.status).toBe(200)
    expect(Object.keys(floor.headers).sort()).toEqual(Object.keys(floodgate.headers).sort())
  })

  it("constant-denied answers like Floodgate's 429: header names, content type and body", async () => {
    const floor = await lastAnswer(framework, 'constant-denied', 1)
    const floodgate = await lastAnswer(framework, 'floodgate-denied', 2)
    expect(floodgate.status).toBe(429)
    expect(floor.status).toBe(429)
    expect(Object.keys(floor.headers).sort()).toEqual(Object.keys(floodgate.headers).sort())
    expect(floor.headers['content-type']).toBe(floodgate.headers['content-type'])
    expect(withoutSeconds(floor.body)).toBe(withoutSeconds(floodgate.body))
  })
})
