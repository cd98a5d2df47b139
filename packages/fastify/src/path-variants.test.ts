import { fixedWindow, memoryStore } from '@floodgate/core'
import { manualClock } from '@floodgate/core/testing'
import fastify5 from 'fastify'
import fastify4 from 'fastify4'
import { describe, expect, it } from 'vitest'
import { fastifyRateLimit } from './index.js'

// The plugin picks a request's limiter from the route that answers it (its config), never from the
// path the client wrote: every spelling the router sends to a route counts in that route's one limit
// (docs/security.md, section 9). Over loopback, with the router as loose as Fastify lets it be.

/** Spellings Fastify's router sends to `/search` with the options below, then HEAD (its GET's twin). */
const SPELLINGS = ['/search', '/search?q=1', '/SEARCH', '/search/', '//search', '/%73earch', '/Search/?q=2']

const stillStore = () => memoryStore({ clock: manualClock(1_800_000_000_000) })

type Declared = 'after the plugin loaded' | 'before the plugin loaded' | 'in a plugin registered before it'

for (const [name, fastify, routerOptions] of [
  // Fastify 5 takes the router's options under `routerOptions` (top-level ones are deprecated there).
  [
    'fastify 5',
    fastify5,
    { routerOptions: { caseSensitive: false, ignoreTrailingSlash: true, ignoreDuplicateSlashes: true } },
  ],
  [
    'fastify 4',
    fastify4 as unknown as typeof fastify5,
    { caseSensitive: false, ignoreTrailingSlash: true, ignoreDuplicateSlashes: true },
  ],
] as const) {
  describe(`${name}: one route reached by many spellings`, () => {
    it.each<Declared>([
      'after the plugin loaded',
      'before the plugin loaded',
      'in a plugin registered before it',
    ])(
      'counts every spelling of a route declared %s in its own limit, and HEAD with GET',
      async (declared) => {
        const app = fastify({ logger: false, ...routerOptions })
        let ran = 0
        const search = (instance: typeof app) => {
          instance.get(
            '/search',
            { config: { rateLimit: { policies: fixedWindow({ limit: 3, window: '1 m' }) } } },
            async () => {
              ran++
              return 'ok'
            },
          )
        }
        const plugin = { policies: fixedWindow({ limit: 100, window: '1 m' }), store: stillStore() }
        if (declared === 'after the plugin loaded') {
          await app.register(fastifyRateLimit, plugin)
          search(app)
        } else if (declared === 'before the plugin loaded') {
          search(app)
          await app.register(fastifyRateLimit, plugin)
        } else {
          app.register(async (child) => search(child as unknown as typeof app))
          await app.register(fastifyRateLimit, plugin)
        }
        await app.listen({ port: 0, host: '127.0.0.1' })
        try {
          const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
          const statuses: number[] = []
          // Concatenated, not new URL(path, base): `//search` would be read as a host.
          for (const path of SPELLINGS) statuses.push((await fetch(`${base}${path}`)).status)
          statuses.push((await fetch(`${base}/search`, { method: 'HEAD' })).status)
          expect(statuses).toEqual([200, 200, 200, 429, 429, 429, 429, 429])
          expect(ran).toBe(3)
        } finally {
          await app.close()
        }
      },
    )
  })
}
