import { Writable } from 'node:stream'
import { clientIpKey, createRateLimiter, fixedWindow, memoryStore, WARNING_CODES } from '@floodgate/core'
import { manualClock } from '@floodgate/core/testing'
import fastify5 from 'fastify'
import fastify4 from 'fastify4'
import { describe, expect, it } from 'vitest'
import { fastifyRateLimit } from './index.js'

type FastifyFactory = typeof fastify5

// The recipes docs/testing.md and this package's README give for an app's own tests and logs.
for (const [name, fastify] of [
  ['fastify 5', fastify5],
  ['fastify 4', fastify4 as unknown as FastifyFactory],
] as const) {
  describe(`${name}: the documented recipes`, () => {
    it("counts inject() requests under clientIpKey('127.0.0.1'), which a test resets; the bare address resets nothing", async () => {
      const limiter = createRateLimiter({
        policies: fixedWindow({ limit: 2, window: '1 m' }),
        store: memoryStore({ clock: manualClock(1_800_000_000_000) }),
        logger: false,
      })
      const app = fastify()
      await app.register(fastifyRateLimit, { limiter })
      app.get('/', async () => 'ok')
      const status = async () => (await app.inject({ url: '/' })).statusCode
      try {
        expect([await status(), await status(), await status()]).toEqual([200, 200, 429])
        expect(clientIpKey('127.0.0.1')).toBe('ip:127.0.0.1')
        await limiter.reset('127.0.0.1')
        expect(await status()).toBe(429)
        await limiter.reset(clientIpKey('127.0.0.1')!)
        expect(await status()).toBe(200)
      } finally {
        await app.close()
        await limiter.close()
      }
    })

    it("writes warnings to Fastify's own log given logger: app.log, as JSON lines at level warn", async () => {
      const lines: string[] = []
      const stream = new Writable({
        write(chunk, _encoding, callback) {
          lines.push(String(chunk))
          callback()
        },
      })
      const app = fastify({ logger: { level: 'warn', stream } })
      await app.register(fastifyRateLimit, {
        policies: fixedWindow({ limit: 10, window: '1 m' }),
        store: memoryStore({ clock: manualClock(1_800_000_000_000) }),
        logger: app.log,
      })
      app.get('/', async () => 'ok')
      try {
        // No proxy trusted: a forwarding header is ignored, and said so once.
        const response = await app.inject({ url: '/', headers: { 'x-forwarded-for': '198.51.100.1' } })
        expect(response.statusCode).toBe(200)
      } finally {
        await app.close()
      }
      const warnings = lines
        .map((line) => JSON.parse(line) as { level: number; msg: string })
        .filter((entry) => entry.msg.startsWith('[floodgate]'))
      expect(warnings).toEqual([
        expect.objectContaining({
          level: 40,
          msg: expect.stringMatching(`^\\[floodgate\\] ${WARNING_CODES.FORWARDED_HEADER_IGNORED}: `),
        }),
      ])
    })
  })
}
