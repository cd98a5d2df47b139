import { describeRedis, startUpstashServer, type UpstashServer } from '@floodgate/tools'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { sendBurst } from './burst.js'
import { expectAdmitted, expectStandard429, expectUnlimited } from './expect-limited.js'
import type { RunningExample, StartOptions } from './running-example.js'
import type { StoreKind } from './store-from-env.js'

/**
 * The smoke test every framework example passes (5 per minute on /api/hello, /health unlimited),
 * on the store that `env()` selects. Registers its tests in the calling `describe`.
 */
export function exampleSmokeTests(
  start: (options: StartOptions) => Promise<RunningExample>,
  store: { kind: StoreKind; env: () => Record<string, string | undefined> },
): void {
  let app: RunningExample | undefined
  afterEach(async () => {
    await app?.close()
    app = undefined
  })
  // A fresh prefix per test: a shared Redis keeps counters between tests.
  let run = 0
  const launch = () =>
    start({ port: 0, env: store.env(), prefix: `smoke-${process.pid}-${Date.now()}-${run++}` })

  it(`admits 5 of a burst of 8 on the ${store.kind} store and answers the rest with a standard 429`, async () => {
    app = await launch()
    expect(app.store.kind).toBe(store.kind)
    // Loopback only, unless asked: the examples are for trying out, not for exposing.
    expect(app.url).toBe(`http://127.0.0.1:${app.port}`)
    const burst = await sendBurst(`${app.url}/api/hello`, 8)
    expect(burst.answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 429, 429, 429])
    expectAdmitted(burst.answers[0], 4)
    expectAdmitted(burst.answers[4], 0)
    expectStandard429(burst.firstLimited)
  })

  it(`never limits /health and sends it no rate-limit headers (${store.kind} store)`, async () => {
    app = await launch()
    expect((await sendBurst(`${app.url}/api/hello`, 6)).limited).toBe(1)
    const health = await sendBurst(`${app.url}/health`, 3)
    expect(health.admitted).toBe(3)
    for (const answer of health.answers) expectUnlimited(answer)
  })
}

export const MEMORY = { kind: 'memory', env: () => ({}) } as const

/**
 * The smoke test of one framework example on each store it can pick: memory, then Redis from
 * `REDIS_URL`, then Upstash from `UPSTASH_REDIS_REST_URL` and `_TOKEN` (a local Upstash server).
 */
export function exampleSmokeSuites(
  name: string,
  start: (options: StartOptions) => Promise<RunningExample>,
): void {
  describe(`${name} example`, () => {
    exampleSmokeTests(start, MEMORY)
  })

  describeRedis(`${name} example with REDIS_URL set`, (redisUrl) => {
    exampleSmokeTests(start, { kind: 'redis', env: () => ({ REDIS_URL: redisUrl }) })
  })

  describeRedis(`${name} example with UPSTASH_REDIS_REST_URL and _TOKEN set`, (redisUrl) => {
    let upstash: UpstashServer
    beforeAll(async () => {
      upstash = await startUpstashServer({ redisUrl })
    })
    afterAll(() => upstash.stop())
    exampleSmokeTests(start, {
      kind: 'upstash',
      env: () => ({ UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: upstash.token }),
    })
  })
}
