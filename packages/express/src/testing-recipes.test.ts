import { createServer } from 'node:http'
import { clientIpKey, fixedWindow, memoryStore } from '@floodgate/core'
import { manualClock, serveOnLoopback } from '@floodgate/core/testing'
import express from 'express'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { rateLimit } from './index.js'

// The recipes of docs/testing.md, as an app's own tests would use them.

async function serve(middleware: ReturnType<typeof rateLimit>) {
  const app = express()
  app.use(middleware)
  app.get('/', (_req, res) => res.send('ok'))
  const server = await serveOnLoopback(createServer(app))
  const statuses = async (count: number) => {
    const seen: number[] = []
    for (let i = 0; i < count; i++) seen.push((await fetch(`${server.base}/`)).status)
    return seen
  }
  return { statuses, close: () => server.close() }
}

describe('docs/testing.md', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('steps through a window with fake timers when the store reads Date.now', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const app = await serve(
      rateLimit({
        policies: fixedWindow({ limit: 5, window: '1 m' }),
        store: memoryStore({ clock: () => Date.now() }),
      }),
    )
    try {
      expect(await app.statuses(6)).toEqual([200, 200, 200, 200, 200, 429])
      vi.advanceTimersByTime(60_000)
      expect(await app.statuses(1)).toEqual([200])
    } finally {
      await app.close()
    }
  })

  it("resets a module-level middleware between tests by the client's key, not its bare address", async () => {
    // A clock that stands still: a minute's end between two requests would undo the expected 429s.
    const middleware = rateLimit({
      policies: fixedWindow({ limit: 2, window: '1 m' }),
      store: memoryStore({ clock: manualClock(1_800_000_000_000) }),
    })
    const app = await serve(middleware)
    try {
      expect(await app.statuses(3)).toEqual([200, 200, 429])
      await middleware.limiter.reset('127.0.0.1') // never counted under that identifier
      expect(await app.statuses(1)).toEqual([429])
      await middleware.limiter.reset(clientIpKey('127.0.0.1')!)
      expect(await app.statuses(3)).toEqual([200, 200, 429])
    } finally {
      await app.close()
      await middleware.limiter.close()
    }
  })
})
