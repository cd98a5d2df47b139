import { createServer } from 'node:http'
import { clientIpKey, fixedWindow, memoryStore } from '@floodgate/core'
import { manualClock, serveOnLoopback } from '@floodgate/core/testing'
import express5 from 'express'
import express4 from 'express4'
import { describe, expect, it } from 'vitest'
import { rateLimit } from './index.js'

// An Express Router can serve without an Express app (plain node:http, Connect): no `req.app`, no
// `req.ip`. The middleware limits by the socket's address there, as with trust proxy off.

/** A memory store whose clock stands still: no minute's end can fall between a test's requests. */
const stillStore = () => memoryStore({ clock: manualClock(1_800_000_000_000) })

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express5],
])('%s Router without an app', (_name, express) => {
  it('limits by the socket address instead of answering 500', async () => {
    const router = express.Router()
    const warnings: string[] = []
    const limited = rateLimit({
      policies: fixedWindow({ limit: 2, window: '1 m' }),
      store: stillStore(),
      logger: { warn: (message) => warnings.push(message) },
    })
    router.use(limited)
    router.get('/', (_req, res) => void res.end('ok'))
    const errors: unknown[] = []
    const server = createServer((req, res) =>
      router(req as never, res as never, (error?: unknown) => {
        if (error !== undefined) errors.push(error)
        res.statusCode = error === undefined ? 404 : 500
        res.end()
      }),
    )
    const loopback = await serveOnLoopback(server)
    try {
      const statuses: number[] = []
      for (let i = 0; i < 3; i++) statuses.push((await fetch(loopback.base)).status)
      expect(statuses).toEqual([200, 200, 429])
      expect(errors).toEqual([])
      // Counted by the socket's address, not under the shared unknown-client identifier.
      expect(warnings).toEqual([])
      expect((await limited.limiter.peek(clientIpKey('127.0.0.1')!)).remaining).toBe(0)
    } finally {
      await loopback.close()
    }
  })
})
