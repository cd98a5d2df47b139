import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fixedWindow, memoryStore } from '@floodgate/core'
import { serveOnLoopback } from '@floodgate/core/testing'
import express5 from 'express'
import express4 from 'express4'
import { describe, expect, it } from 'vitest'
import { rateLimit } from './index.js'

type ExpressFactory = typeof express5

/** An app under `trust`, limited, whose warnings go to `warnings`. */
function appLogging(express: ExpressFactory, trust: unknown) {
  const warnings: string[] = []
  const app = express()
  app.set('trust proxy', trust)
  app.use(
    rateLimit({
      policies: fixedWindow({ limit: 10, window: '1 m' }),
      store: memoryStore({ clock: () => 1_700_000_000_000 }),
      logger: { warn: (message) => warnings.push(message) },
    }),
  )
  app.get('/', (_req, res) => res.json({ ok: true }))
  return { app, warnings }
}

async function warningsFor(
  express: ExpressFactory,
  trust: unknown,
  header = 'x-forwarded-for',
): Promise<string[]> {
  const { app, warnings } = appLogging(express, trust)
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  try {
    for (const forged of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
      const value = header === 'forwarded' ? `for=${forged}` : forged
      const response = await fetch(base, { headers: { [header]: value } })
      expect(response.status).toBe(200)
    }
  } finally {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
  return warnings
}

const permissive = (warnings: string[]) =>
  warnings.filter((w) => w.includes('FLOODGATE_PERMISSIVE_TRUST_PROXY'))

for (const [name, express] of [
  ['express 5', express5],
  ['express 4', express4 as unknown as ExpressFactory],
] as const) {
  describe(`${name}: trust proxy warnings`, () => {
    it('warns once when every X-Forwarded-For hop is trusted (trust proxy: true)', async () => {
      expect(permissive(await warningsFor(express, true))).toHaveLength(1)
    })

    it('warns once when a trust function accepts every address, or the hop count is more than any chain has', async () => {
      expect(permissive(await warningsFor(express, () => true))).toHaveLength(1)
      expect(permissive(await warningsFor(express, 100))).toHaveLength(1)
    })

    it('does not warn when only the proxy is trusted (loopback, one hop, a few hops, a function that checks)', async () => {
      expect(await warningsFor(express, 'loopback')).toEqual([])
      expect(await warningsFor(express, 1)).toEqual([])
      expect(await warningsFor(express, 9)).toEqual([])
      expect(await warningsFor(express, (address: string) => address === '127.0.0.1')).toEqual([])
    })

    it('takes a trust function that throws on an address it was not written for as not trusting every hop', async () => {
      // Trusts the loopback proxy, distrusts the forged client addresses, and throws on any other.
      const forged = new Set(['198.51.100.1', '198.51.100.2', '198.51.100.3'])
      const strict = (address: string, hop: number) => {
        if (hop === 0 && address === '127.0.0.1') return true
        if (hop === 1 && forged.has(address)) return false
        throw new Error(`no rule for ${address} at hop ${hop}`)
      }
      expect(await warningsFor(express, strict)).toEqual([])
    })

    it('warns once when a trusted proxy sends only the Forwarded header, which Express does not read', async () => {
      const warnings = await warningsFor(express, 1, 'forwarded')
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain('WARN_FLOODGATE_FORWARDED_HEADER_IGNORED')
      expect(warnings[0]).toContain('carries Forwarded but no x-forwarded-for')
    })

    it('warns once when the proxy the request came from is not the one trusted', async () => {
      const warnings = await warningsFor(express, ['10.0.0.0/8'])
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain('WARN_FLOODGATE_FORWARDED_HEADER_IGNORED')
      expect(warnings[0]).toContain('does not trust 127.0.0.1')
      expect(warnings[0]).toContain('app.set("trust proxy", "127.0.0.1")')
    })
  })
}

describe('a server on a unix socket, behind a proxy trusted by address', () => {
  it('says the address is missing, not that the proxy "an unknown address" is untrusted', async () => {
    // 'loopback' is no help on a socket: there is no loopback address.
    const { app, warnings } = appLogging(express5, 'loopback')
    const path = join(tmpdir(), `floodgate-trust-${process.pid}-${Date.now()}.sock`)
    const server = app.listen(path)
    await new Promise((resolve) => server.once('listening', resolve))
    try {
      const status = await new Promise<number | undefined>((resolve, reject) => {
        request({ socketPath: path, path: '/', headers: { 'x-forwarded-for': '198.51.100.1' } }, (res) => {
          res.resume()
          resolve(res.statusCode)
        })
          .on('error', reject)
          .end()
      })
      expect(status).toBe(200)
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('WARN_FLOODGATE_UNKNOWN_CLIENT_IP')
  })
})

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express5],
])('%s: trust proxy off', (_name, express) => {
  it('says the app trusts no proxy when trust proxy is unset, false or 0 and a request is forwarded', async () => {
    for (const trust of [undefined, false, 0]) {
      const warnings: string[] = []
      const app = express()
      if (trust !== undefined) app.set('trust proxy', trust)
      app.use(
        rateLimit({
          policies: fixedWindow({ limit: 10, window: '1 m' }),
          store: memoryStore({ clock: () => 1_700_000_000_000 }),
          logger: { warn: (message) => warnings.push(message) },
        }),
      )
      app.get('/', (_req, res) => void res.json({ ok: true }))
      const server = await serveOnLoopback(createServer(app))
      try {
        const response = await fetch(`${server.base}/`, { headers: { 'x-forwarded-for': '198.51.100.1' } })
        expect(response.status).toBe(200)
      } finally {
        await server.close()
      }
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain('the framework does not trust proxies')
    }
  })
})
