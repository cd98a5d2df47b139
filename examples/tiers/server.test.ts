import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { memoryStore } from '@floodgate/core'
import { afterEach, describe, expect, it } from 'vitest'
import { sendBurst } from '../shared/burst.js'
import { closeServer } from '../shared/running-example.js'
import { createApp, start } from './server.js'

const NOON_MS = Date.UTC(2030, 0, 1, 12, 0, 0)
const FREE = { headers: { 'x-api-key': 'demo-free-key' } }
const PRO = { headers: { 'x-api-key': 'demo-pro-key' } }

describe('tiers example', () => {
  let server: Server | undefined
  let close: (() => Promise<void>) | undefined
  afterEach(async () => {
    if (server) await closeServer(server)
    await close?.()
    server = undefined
  })

  /** The app on a free port, its memory store on a clock the test moves. */
  async function listen(): Promise<{ url: string; clock: { nowMs: number } }> {
    const clock = { nowMs: NOON_MS }
    const app = createApp({ store: memoryStore({ clock: () => clock.nowMs }) })
    close = app.close
    server = createServer(app.app).listen(0, '127.0.0.1')
    await new Promise((resolve) => server!.once('listening', resolve))
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/data`, clock }
  }

  it('gives a free key a burst of 5 per second, reporting both policies in the headers', async () => {
    const { url } = await listen()
    const burst = await sendBurst(url, 7, FREE)
    expect(burst.answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 429, 429])
    expect(JSON.parse(burst.answers[4]!.body)).toEqual({
      account: 'alice',
      plan: 'free',
      policies: [
        { name: 'burst', limit: 5, remaining: 0 },
        { name: 'daily', limit: 50, remaining: 45 },
      ],
    })
    const denied = burst.firstLimited!
    expect(denied.headers['retry-after']).toBe('1')
    expect(denied.headers['ratelimit-policy']).toBe('"burst";q=5;w=1, "daily";q=50;w=86400')
    // A denial charges neither policy: the daily quota still has 45 left.
    expect(denied.headers.ratelimit).toBe('"burst";r=0;t=1, "daily";r=45;t=43200')
    expect(JSON.parse(denied.body)['violated-policies']).toEqual(['burst'])
  })

  it('gives a pro key a burst of 20 per second', async () => {
    const { url } = await listen()
    const burst = await sendBurst(url, 22, PRO)
    expect([burst.admitted, burst.limited]).toEqual([20, 2])
    expect(burst.firstLimited!.headers['ratelimit-policy']).toBe('"burst";q=20;w=1, "daily";q=10000;w=86400')
  })

  it('stops a free key at its daily quota of 50, until midnight UTC', async () => {
    const { url, clock } = await listen()
    for (let second = 0; second < 10; second++) {
      expect((await sendBurst(url, 5, FREE)).admitted).toBe(5)
      clock.nowMs += 1_000
    }
    const [over] = (await sendBurst(url, 1, FREE)).answers
    expect(over!.status).toBe(429)
    expect(JSON.parse(over!.body)['violated-policies']).toEqual(['daily'])
    expect(over!.headers['retry-after']).toBe(String(12 * 3600 - 10))
    // The pro account has its own counters.
    expect((await sendBurst(url, 1, PRO)).admitted).toBe(1)
  })

  it('answers 401 when the API key is missing or unknown, and limits such requests by address', async () => {
    const { url } = await listen()
    const answers = [
      ...(await sendBurst(url, 1)).answers,
      ...(await sendBurst(url, 1, { headers: { 'x-api-key': 'nope' } })).answers,
      // Names every object inherits are not keys either.
      ...(await sendBurst(url, 1, { headers: { 'x-api-key': '__proto__' } })).answers,
      ...(await sendBurst(url, 1, { headers: { 'x-api-key': 'constructor' } })).answers,
      ...(await sendBurst(url, 1, { headers: { 'x-api-key': 'toString' } })).answers,
    ]
    for (const answer of answers) expect(answer.status).toBe(401)
    // Requests without a valid key spend their address's free burst of 5, then are refused.
    const guess = await sendBurst(url, 1, { headers: { 'x-api-key': 'another-guess' } })
    expect(guess.answers[0]!.status).toBe(429)
    expect(JSON.parse(guess.answers[0]!.body)['violated-policies']).toEqual(['burst'])
    // Valid keys are counted by account, apart from the address's burst (5 unknown keys of 10).
    expect((await sendBurst(url, 1, FREE)).admitted).toBe(1)
  })

  it('refuses an address that sent 10 unknown keys whatever key it sends next, the right one too, until its retry time', async () => {
    const { url, clock } = await listen()
    const send = async (key: string) =>
      (await sendBurst(url, 1, { headers: { 'x-api-key': key } })).answers[0]!
    for (let i = 0; i < 10; i++) {
      clock.nowMs += 1_000 // the address's free burst refills: each guess is a 401, not a 429
      expect((await send(`wrong-${i}`)).status).toBe(401)
    }
    // Answered alike, a right guess does not stand out from a wrong one.
    const refusals = [await send('guess-11'), await send('demo-pro-key'), await send('demo-free-key')]
    for (const refused of refusals) {
      expect(refused.status).toBe(429)
      expect(refused.headers['content-type']).toBe('application/problem+json; charset=utf-8')
      expect(refused.headers['cache-control']).toBe('no-store')
      expect(JSON.parse(refused.body)['violated-policies']).toEqual(['wrong-keys'])
    }
    const retryAfter = Number(refusals[0]!.headers['retry-after'])
    // The hour's 10 unknown keys weigh on the next hour until a tenth of it has passed (13:06).
    expect(retryAfter).toBe(3_600 + 360 - 10)
    clock.nowMs += (retryAfter - 1) * 1_000
    expect((await send('demo-pro-key')).status).toBe(429)
    clock.nowMs += 1_000
    expect((await send('demo-pro-key')).status).toBe(200)
  })
})

describe('tiers example started from the environment', () => {
  it('runs on the memory store with no store variables set', async () => {
    const app = await start({ port: 0, env: {} })
    try {
      expect(app.store.kind).toBe('memory')
      // One request only: the burst bucket refills on the real clock here.
      const [answer] = (await sendBurst(`${app.url}/api/data`, 1, FREE)).answers
      expect(answer!.status).toBe(200)
      expect(JSON.parse(answer!.body)).toMatchObject({ account: 'alice', plan: 'free' })
      expect(answer!.headers['ratelimit-policy']).toBe('"burst";q=5;w=1, "daily";q=50;w=86400')
    } finally {
      await app.close()
    }
  })
})
