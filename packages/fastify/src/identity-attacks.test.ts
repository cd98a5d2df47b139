import { fixedWindow, memoryStore } from '@floodgate/core'
import { type AttackDriver, manualClock, type ProxyTrust, runAdapterAttacks } from '@floodgate/core/testing'
import fastify5 from 'fastify'
import fastify4 from 'fastify4'
import { describe, expect, it } from 'vitest'
import { type FastifyRateLimitOptions, fastifyRateLimit } from './index.js'

type FastifyFactory = typeof fastify5

/**
 * Fastify's `trustProxy` for each setting of the shared attack table. Fastify 5.12 ignores a hop
 * count (it "fails closed", trusting nothing), so one hop is the proxy's own address there.
 */
const TRUST_4: Record<ProxyTrust, boolean | number | string> = {
  none: false,
  'one-hop': 1,
  'every-hop': true,
}
const TRUST_5: Record<ProxyTrust, boolean | number | string> = { ...TRUST_4, 'one-hop': '127.0.0.1' }

/** GET / behind the plugin, answered through `inject` from 127.0.0.1. */
async function serve(
  fastify: FastifyFactory,
  options: Record<string, unknown>,
  trustProxy: boolean | number | string,
) {
  // Fastify 5's types no longer accept a hop count (Fastify 4 took one); both are tested here.
  const app = fastify({ trustProxy: trustProxy as boolean | string })
  await app.register(fastifyRateLimit, options as FastifyRateLimitOptions)
  app.get('/', async (request) => ({ remaining: request.rateLimit?.remaining ?? null }))
  await app.ready()
  return {
    get: async (headers: Record<string, string> = {}) => {
      const response = await app.inject({ method: 'GET', url: '/', headers })
      const fetchHeaders = new Headers()
      for (const [key, value] of Object.entries(response.headers)) {
        if (value !== undefined) fetchHeaders.set(key, String(value))
      }
      return { status: response.statusCode, headers: fetchHeaders, body: response.body }
    },
    close: () => app.close(),
  }
}

const driver = (name: string, fastify: FastifyFactory, trust: typeof TRUST_4): AttackDriver => ({
  name,
  start: (options, proxy) => serve(fastify, options, trust[proxy]),
})

runAdapterAttacks(driver('fastify 5', fastify5, TRUST_5))
runAdapterAttacks(driver('fastify 4', fastify4 as unknown as FastifyFactory, TRUST_4))

const options = () => ({
  policies: fixedWindow({ limit: 100, window: '1 m' }),
  store: memoryStore({ clock: manualClock(1_800_000_000_000) }),
  logger: false as const,
})

describe('fastify trustProxy given as addresses', () => {
  it('trusting the proxy by CIDR: rotating forged left-most values stays in the appended address bucket', async () => {
    const server = await serve(fastify5, options(), '127.0.0.0/8')
    try {
      const remaining: string[] = []
      for (const forged of ['198.51.100.1', '198.51.100.2', '2001:db8::9', '10.0.0.1']) {
        const r = await server.get({ 'x-forwarded-for': `${forged}, 203.0.113.7` })
        remaining.push(r.headers.get('x-ratelimit-remaining')!)
      }
      expect(remaining).toEqual(['99', '98', '97', '96'])
    } finally {
      await server.close()
    }
  })
})

describe('fastify 5 trustProxy as a hop count', () => {
  it('fastify 5 ignores trustProxy: 1 (fails closed): every client shares the proxy address bucket, so give the proxy address', async () => {
    const server = await serve(fastify5, options(), 1)
    try {
      const remaining: string[] = []
      for (const client of ['203.0.113.7', '203.0.113.8', '198.51.100.1']) {
        const r = await server.get({ 'x-forwarded-for': client })
        remaining.push(r.headers.get('x-ratelimit-remaining')!)
      }
      expect(remaining).toEqual(['99', '98', '97'])
    } finally {
      await server.close()
    }
  })
})
