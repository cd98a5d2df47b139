import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { memoryStore } from '@floodgate/core'
import { afterEach, describe, expect, it } from 'vitest'
import { sendBurst } from '../shared/burst.js'
import { closeServer } from '../shared/running-example.js'
import { API_KEYS, createApp, start } from './server.js'

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

  it('keeps its counters, unknown keys included, under its prefix: another prefix on the same store counts apart', async () => {
    const store = memoryStore({ clock: () => NOON_MS })
    const apps = ['tiers-a', 'tiers-b', 'tiers-a'].map((prefix) => createApp({ store, prefix }))
    const servers = apps.map((app) => createServer(app.app).listen(0, '127.0.0.1'))
    try {
      await Promise.all(servers.map((s) => new Promise((resolve) => s.once('listening', resolve))))
      const [a, b, a2] = servers.map((s) => `http://127.0.0.1:${(s.address() as AddressInfo).port}/api/data`)
      expect((await sendBurst(a!, 6, FREE)).admitted).toBe(5)
      expect((await sendBurst(b!, 1, FREE)).admitted).toBe(1)
      expect((await sendBurst(a2!, 1, FREE)).limited).toBe(1)
      // The unknown keys too.
      for (let i = 0; i < 10; i++) await sendBurst(a!, 1, { headers: { 'x-api-key': `wrong-${i}` } })
      expect((await sendBurst(b!, 1, PRO)).admitted).toBe(1)
      const [refused] = (await sendBurst(a2!, 1, PRO)).answers
      expect(JSON.parse(refused!.body)['violated-policies']).toEqual(['wrong-keys'])
    } finally {
      for (const s of servers) await closeServer(s)
      for (const app of apps) await app.close()
    }
  })

  /** One GET from another loopback address than fetch's 127.0.0.1: another client to the app. */
  function sendFrom(
    localAddress: string,
    url: string,
    apiKey?: string,
  ): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const headers = apiKey === undefined ? {} : { 'x-api-key': apiKey }
      request(url, { localAddress, headers, agent: false }, (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          body += chunk
        })
        response.on('end', () => resolve({ status: response.statusCode!, body }))
      })
        .on('error', reject)
        .end()
    })
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
    expect(JSON.parse(burst.answers[19]!.body)).toEqual({
      account: 'bob',
      plan: 'pro',
      policies: [
        { name: 'burst', limit: 20, remaining: 0 },
        { name: 'daily', limit: 10_000, remaining: 9_980 },
      ],
    })
  })

  it('refills a pro burst at 20 per second: 10 more after half a second', async () => {
    const { url, clock } = await listen()
    expect((await sendBurst(url, 20, PRO)).admitted).toBe(20)
    clock.nowMs += 500
    const after = await sendBurst(url, 11, PRO)
    expect(after.answers.map((a) => a.status)).toEqual([...Array(10).fill(200), 429])
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

  it('applies a plan change on the next request, keeping the usage counted so far', async () => {
    const { url, clock } = await listen()
    expect((await sendBurst(url, 5, FREE)).admitted).toBe(5)
    const account = API_KEYS['demo-free-key']!
    account.plan = 'pro' // what an upgrade in the database does
    try {
      // The burst spent on the free plan is spent on the pro plan too, until it refills.
      const [spent] = (await sendBurst(url, 1, FREE)).answers
      expect(spent!.status).toBe(429)
      expect(spent!.headers['ratelimit-policy']).toBe('"burst";q=20;w=1, "daily";q=10000;w=86400')
      expect(JSON.parse(spent!.body)['violated-policies']).toEqual(['burst'])
      clock.nowMs += 1_000
      const [upgraded] = (await sendBurst(url, 1, FREE)).answers
      expect(upgraded!.status).toBe(200)
      expect(JSON.parse(upgraded!.body)).toMatchObject({ account: 'alice', plan: 'pro' })
      // The day's 5 requests count against the pro quota too: this one is the 6th.
      expect(JSON.parse(upgraded!.body).policies[1]).toEqual({
        name: 'daily',
        limit: 10_000,
        remaining: 9_994,
      })
    } finally {
      account.plan = 'free'
    }
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
    for (const answer of answers) {
      expect(answer.status).toBe(401)
      expect(JSON.parse(answer.body)).toEqual({ error: 'Send a valid API key in the x-api-key header.' })
    }
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

  it('checks the unknown keys only of requests that carry a key: one without gets its 401', async () => {
    const { url, clock } = await listen()
    for (let i = 0; i < 10; i++) {
      clock.nowMs += 1_000
      await sendBurst(url, 1, { headers: { 'x-api-key': `wrong-${i}` } })
    }
    clock.nowMs += 1_000
    const [keyless] = (await sendBurst(url, 1)).answers
    expect(keyless!.status).toBe(401)
  })

  it('counts requests without a valid key, and unknown keys, per address: another address keeps its own', async () => {
    const { url, clock } = await listen()
    for (let i = 0; i < 10; i++) {
      clock.nowMs += 1_000
      expect((await sendFrom('127.0.0.1', url, `wrong-${i}`)).status).toBe(401)
    }
    expect((await sendFrom('127.0.0.1', url, 'demo-pro-key')).status).toBe(429)
    // 127.0.0.2 has sent no unknown key: its right key is answered.
    expect((await sendFrom('127.0.0.2', url, 'demo-pro-key')).status).toBe(200)
    // Nor has it spent its burst without a key, which 127.0.0.1 now does (refilled since its last guess).
    clock.nowMs += 1_000
    for (let i = 0; i < 5; i++) expect((await sendFrom('127.0.0.1', url)).status).toBe(401)
    expect((await sendFrom('127.0.0.1', url)).status).toBe(429)
    expect((await sendFrom('127.0.0.2', url)).status).toBe(401)
  })
})

describe('tiers example started from the environment', () => {
  it('runs on the memory store with no store variables set', async () => {
    const app = await start({ port: 0, env: {} })
    try {
      expect(app.store.kind).toBe('memory')
      expect(app.url).toBe(`http://127.0.0.1:${app.port}`) // loopback only, unless asked
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
