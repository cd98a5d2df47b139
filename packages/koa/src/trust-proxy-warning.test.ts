import type { AddressInfo } from 'node:net'
import { EVERY_HOP, fixedWindow, memoryStore } from '@floodgate/core'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import { describe, expect, it } from 'vitest'
import { rateLimit } from './index.js'

type KoaClass = typeof Koa3

async function warningsFor(
  Koa: KoaClass,
  maxIpsCount: number,
  proxyIpHeader = 'X-Forwarded-For',
  sent = 'x-forwarded-for',
): Promise<string[]> {
  const warnings: string[] = []
  const app = new Koa()
  app.proxy = true
  app.maxIpsCount = maxIpsCount
  app.proxyIpHeader = proxyIpHeader
  app.use(
    rateLimit({
      policies: fixedWindow({ limit: 10, window: '1 m' }),
      store: memoryStore({ clock: () => 1_700_000_000_000 }),
      logger: { warn: (message) => warnings.push(message) },
    }),
  )
  app.use((ctx) => {
    ctx.body = { ok: true }
  })
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  try {
    for (const forged of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
      const response = await fetch(base, { headers: { [sent]: forged } })
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

for (const [name, Koa] of [
  ['koa 3', Koa3],
  ['koa 2', Koa2 as unknown as KoaClass],
] as const) {
  describe(`${name}: trust proxy warnings`, () => {
    it('warns once when app.proxy trusts every hop (no maxIpsCount)', async () => {
      expect(permissive(await warningsFor(Koa, 0))).toHaveLength(1)
    })

    it('does not warn when maxIpsCount limits the trusted hops', async () => {
      expect(await warningsFor(Koa, 1)).toEqual([])
      expect(await warningsFor(Koa, 9)).toEqual([])
    })

    it('warns once when maxIpsCount is more hops than any chain has (100), or below one (every hop)', async () => {
      expect(permissive(await warningsFor(Koa, 100))).toHaveLength(1)
      expect(permissive(await warningsFor(Koa, 0.5))).toHaveLength(1)
    })

    it('warns once when maxIpsCount is exactly EVERY_HOP, the fewest hops taken as every hop', async () => {
      expect(permissive(await warningsFor(Koa, EVERY_HOP))).toHaveLength(1)
      expect(await warningsFor(Koa, EVERY_HOP - 1)).toEqual([])
    })

    it('looks at the header app.proxyIpHeader names, not at X-Forwarded-For', async () => {
      expect(permissive(await warningsFor(Koa, 0, 'X-Client-IP', 'x-client-ip'))).toHaveLength(1)
      expect(permissive(await warningsFor(Koa, 0, 'X-Real-IP', 'x-forwarded-for'))).toHaveLength(0)
    })

    it('warns once when a trusted proxy sends only Forwarded, without advising app.proxyIpHeader for it', async () => {
      const warnings = await warningsFor(Koa, 1, 'X-Real-IP', 'forwarded')
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain('carries Forwarded but no x-real-ip')
      expect(warnings[0]).not.toContain('app.proxyIpHeader')
    })

    it('says no header is read, and nothing of forged addresses, when app.proxyIpHeader is set empty', async () => {
      // Koa reads no header then (set after construction; the constructor would default it): every
      // request counts by the proxy's address, whatever it forwards.
      const warnings = await warningsFor(Koa, 0, '', 'x-forwarded-for')
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain('WARN_FLOODGATE_FORWARDED_HEADER_IGNORED')
      expect(warnings[0]).toContain(
        "carries X-Forwarded-For, but the framework reads the client address from no header (Koa's app.proxyIpHeader is empty)",
      )
      expect(warnings[0]).toContain("Set Koa's app.proxyIpHeader to the header the proxy sends.")
    })

    it('warns once when the proxy sends X-Forwarded-For but app.proxyIpHeader names another header', async () => {
      const warnings = await warningsFor(Koa, 1, 'X-Real-IP', 'x-forwarded-for')
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain('WARN_FLOODGATE_FORWARDED_HEADER_IGNORED')
      expect(warnings[0]).toContain('carries X-Forwarded-For but no x-real-ip')
      expect(warnings[0]).toContain("set Koa's app.proxyIpHeader to the header it sends")
    })
  })
}
