import type { AddressInfo } from 'node:net'
import * as net from 'node:net'
import { fixedWindow, memoryStore } from '@floodgate/core'
import { type AttackDriver, manualClock, type ProxyTrust, runAdapterAttacks } from '@floodgate/core/testing'
import express5 from 'express'
import express4 from 'express4'
import { describe, expect, it } from 'vitest'
import { type RateLimitOptions, rateLimit } from './index.js'

type ExpressFactory = typeof express5

/** Express's `trust proxy` for each setting of the shared attack table. */
const TRUST: Record<ProxyTrust, unknown> = { none: false, 'one-hop': 1, 'every-hop': true }

/** Serves GET / behind one app-wide limiter on a loopback port, with `trust proxy` set to `trust`. */
async function serve(express: ExpressFactory, options: Record<string, unknown>, trust: unknown) {
  const app = express()
  app.set('trust proxy', trust)
  app.use(rateLimit(options as RateLimitOptions))
  app.get('/', (req, res) => {
    res.json({ remaining: req.rateLimit?.remaining ?? null })
  })
  const server = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  return {
    get: async (headers: Record<string, string> = {}) => {
      const response = await fetch(base, { headers })
      return { status: response.status, headers: response.headers, body: await response.text() }
    },
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

const driver = (name: string, express: ExpressFactory): AttackDriver => ({
  name,
  start: (options, proxy) => serve(express, options, TRUST[proxy]),
})

runAdapterAttacks(driver('express 5', express5))
runAdapterAttacks(driver('express 4', express4 as unknown as ExpressFactory))

describe('express trust proxy given as addresses', () => {
  it.each([
    ['a CIDR list', ['127.0.0.0/8', '::1/128']],
    ['"loopback"', 'loopback'],
  ])(
    'trusting the proxy by %s: rotating forged left-most values stays in the appended address bucket',
    async (_n, trust) => {
      const options = {
        policies: fixedWindow({ limit: 100, window: '1 m' }),
        store: memoryStore({ clock: manualClock(1_800_000_000_000) }),
        logger: false as const,
      }
      const server = await serve(express5, options, trust)
      try {
        const remaining: string[] = []
        for (const forged of ['198.51.100.1', '198.51.100.2', '2001:db8::9', '10.0.0.1']) {
          const r = await server.get({ 'x-forwarded-for': `${forged}, 203.0.113.7` })
          remaining.push(r.headers.get('x-ratelimit-remaining')!)
        }
        expect(remaining).toEqual(['99', '98', '97', '96'])
        // A trusted address list also walks past trusted hops a client could forge as loopback.
        const r = await server.get({ 'x-forwarded-for': '198.51.100.1, 203.0.113.7, 127.0.0.1' })
        expect(r.headers.get('x-ratelimit-remaining')).toBe('95')
      } finally {
        await server.close()
      }
    },
  )
})

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as ExpressFactory],
])('%s: a limiter on a mounted sub-app', (_name, express) => {
  it.each([
    ['trusts one hop', 1, ['99', '99']],
    ['trusts no proxy', false, ['99', '98']],
  ])('follows the trust proxy setting it inherits when the parent %s', async (_t, trust, expected) => {
    const parent = express()
    parent.set('trust proxy', trust)
    const api = express()
    api.use(
      rateLimit({
        policies: fixedWindow({ limit: 100, window: '1 m' }),
        store: memoryStore({ clock: manualClock(1_800_000_000_000) }),
        logger: false,
      }),
    )
    api.get('/', (_req, res) => {
      res.json({})
    })
    parent.use('/api', api)
    const server = parent.listen(0, '127.0.0.1')
    await new Promise<void>((resolve) => server.once('listening', resolve))
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`
      const remaining: (string | null)[] = []
      for (const client of ['198.51.100.1', '198.51.100.2']) {
        const response = await fetch(base, { headers: { 'x-forwarded-for': client } })
        remaining.push(response.headers.get('x-ratelimit-remaining'))
      }
      expect(remaining).toEqual(expected)
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe('a client that resets its connection right after its request', () => {
  // Node reads the peer address only when asked, and after a reset the kernel has none to give: the
  // request is counted under the shared "unknown-client" key, and the route still runs (nobody gets
  // its answer). That shared bucket bounds it: a client gets that one budget besides its own,
  // however many connections it resets (docs/security.md, section 3).
  it.each([
    ['express 5', express5],
    ['express 4', express4 as unknown as ExpressFactory],
  ])(
    '%s: runs the route at most its own limit plus the shared unknown-client limit',
    async (_name, express) => {
      const app = express()
      const limited = rateLimit({
        policies: fixedWindow({ limit: 3, window: '1 m' }),
        store: memoryStore({ clock: manualClock(1_800_000_000_000) }),
        logger: false,
      })
      app.use(limited)
      let ran = 0
      app.post('/send', (_req, res) => {
        ran++
        res.end('sent')
      })
      const server = app.listen(0, '127.0.0.1')
      await new Promise<void>((resolve) => server.once('listening', resolve))
      const { port } = server.address() as AddressInfo
      const send = (reset: boolean) =>
        new Promise<void>((resolve) => {
          const socket = net.connect(port, '127.0.0.1', () => {
            socket.write('POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
            if (reset) setImmediate(() => socket.resetAndDestroy())
          })
          socket.on('error', () => undefined).on('close', () => resolve())
          socket.resume()
        })
      try {
        for (let i = 0; i < 3; i++) await send(false)
        for (let i = 0; i < 20; i++) await send(true)
        // Every connection handled and closed on the server's side: the count is final.
        for (let open = 1; open > 0; ) {
          await new Promise((resolve) => setImmediate(resolve))
          open = await new Promise<number>((resolve) => server.getConnections((_e, n) => resolve(n)))
        }
        expect(ran).toBeLessThanOrEqual(3 + 3)
        expect((await limited.limiter.peek('ip:127.0.0.1')).remaining).toBe(0)
      } finally {
        server.closeAllConnections()
        await new Promise((resolve) => server.close(resolve))
      }
    },
  )
})
