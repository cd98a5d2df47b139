import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type AttackDriver, type ProxyTrust, runAdapterAttacks } from '@floodgate/core/testing'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import { type RateLimitOptions, rateLimit } from './index.js'

type KoaClass = typeof Koa3

/** Koa's proxy settings for each setting of the shared attack table. */
const TRUST: Record<ProxyTrust, { proxy: boolean; maxIpsCount: number }> = {
  none: { proxy: false, maxIpsCount: 0 },
  'one-hop': { proxy: true, maxIpsCount: 1 },
  // app.proxy without maxIpsCount reads the left-most X-Forwarded-For entry.
  'every-hop': { proxy: true, maxIpsCount: 0 },
}

const driver = (name: string, Koa: KoaClass): AttackDriver => ({
  name,
  start: async (options, proxy) => {
    const app = new Koa()
    app.proxy = TRUST[proxy].proxy
    app.maxIpsCount = TRUST[proxy].maxIpsCount
    app.silent = true
    app.use(rateLimit(options as RateLimitOptions))
    app.use((ctx) => {
      ctx.body = { remaining: ctx.state.rateLimit?.remaining ?? null }
    })
    const server = createServer(app.callback()).listen(0, '127.0.0.1')
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
  },
})

runAdapterAttacks(driver('koa 3', Koa3))
runAdapterAttacks(driver('koa 2', Koa2 as unknown as KoaClass))
