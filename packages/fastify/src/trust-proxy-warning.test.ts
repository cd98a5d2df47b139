import { EVERY_HOP, fixedWindow, memoryStore, WARNING_CODES } from '@floodgate/core'
import fastify5 from 'fastify'
import fastify4 from 'fastify4'
import { describe, expect, it } from 'vitest'
import { fastifyRateLimit } from './index.js'

type FastifyFactory = typeof fastify5

/** The warnings one app logs for three requests each forging another X-Forwarded-For value. */
async function warningsFor(
  fastify: FastifyFactory,
  trustProxy: boolean | number | string | undefined,
  prepare?: (app: ReturnType<FastifyFactory>) => void,
): Promise<string[]> {
  const warnings: string[] = []
  // Fastify 5's types no longer accept a hop count (Fastify 4 took one); both are tested here.
  const app = fastify({ trustProxy: trustProxy as boolean | string | undefined })
  prepare?.(app)
  await app.register(fastifyRateLimit, {
    policies: fixedWindow({ limit: 10, window: '1 m' }),
    store: memoryStore({ clock: () => 1_700_000_000_000 }),
    logger: { warn: (message) => warnings.push(message) },
  })
  app.get('/', async () => ({ ok: true }))
  try {
    for (const forged of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
      const response = await app.inject({ url: '/', headers: { 'x-forwarded-for': forged } })
      expect(response.statusCode).toBe(200)
    }
  } finally {
    await app.close()
  }
  return warnings
}

const only = (warnings: string[], code: string) => warnings.filter((w) => w.includes(code))

for (const [name, fastify, oneHop] of [
  ['fastify 5', fastify5, '127.0.0.1'],
  ['fastify 4', fastify4 as unknown as FastifyFactory, 1],
] as const) {
  describe(`${name}: trust proxy warnings`, () => {
    it('warns once when trustProxy: true trusts every hop', async () => {
      const warnings = await warningsFor(fastify, true)
      expect(only(warnings, WARNING_CODES.PERMISSIVE_TRUST_PROXY)).toHaveLength(1)
      expect(warnings).toHaveLength(1)
    })

    it('answers, warning as for an untrusted proxy, when the app declares request.ips itself without trustProxy', async () => {
      // `ips` is then the app's own (null), not Fastify's list of trusted addresses.
      const warnings = await warningsFor(fastify, undefined, (app) => app.decorateRequest('ips', null))
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain(WARNING_CODES.FORWARDED_HEADER_IGNORED)
    })

    it('warns once when a trust function accepts every address', async () => {
      const warnings = await warningsFor(fastify, (() => true) as unknown as boolean)
      expect(only(warnings, WARNING_CODES.PERMISSIVE_TRUST_PROXY)).toHaveLength(1)
    })

    it(`does not warn when only the proxy is trusted (trustProxy: ${JSON.stringify(oneHop)})`, async () => {
      expect(await warningsFor(fastify, oneHop)).toEqual([])
    })

    it('warns once when the proxy the request came from is not the one trusted', async () => {
      const warnings = await warningsFor(fastify, '10.0.0.0/8')
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain(WARNING_CODES.FORWARDED_HEADER_IGNORED)
      expect(warnings[0]).toContain('does not trust 127.0.0.1')
      expect(warnings[0]).toContain('Fastify: trustProxy: "127.0.0.1"')
    })

    it("without trustProxy, the forwarding warning advises the proxy's address, never trusting every hop", async () => {
      const warnings = await warningsFor(fastify, false)
      expect(only(warnings, WARNING_CODES.FORWARDED_HEADER_IGNORED)).toHaveLength(1)
      expect(warnings[0]).toContain(`Fastify: trustProxy: "<the proxy's address>"`)
      expect(warnings[0]).not.toContain('trustProxy: true')
      expect(warnings[0]).toContain('app.maxIpsCount = 1')
    })
  })
}

describe('fastify 5: a hop count', () => {
  it('warns that the forwarded address was not used: Fastify 5 trusts nothing for trustProxy: 1', async () => {
    const warnings = await warningsFor(fastify5, 1)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain(WARNING_CODES.FORWARDED_HEADER_IGNORED)
    expect(warnings[0]).toContain('recent Fastify 5 releases ignore a hop count such as trustProxy: 1')
  })
})

describe('fastify 4: a hop count', () => {
  it('takes a count of EVERY_HOP hops or more as trusting every hop, and one fewer as not', async () => {
    expect(await warningsFor(fastify4 as unknown as FastifyFactory, EVERY_HOP - 1)).toEqual([])
    const warnings = await warningsFor(fastify4 as unknown as FastifyFactory, EVERY_HOP)
    expect(only(warnings, WARNING_CODES.PERMISSIVE_TRUST_PROXY)).toHaveLength(1)
  })
})
