import { createServer } from 'node:http'
import { fixedWindow, memoryStore } from '@floodgate/core'
import { manualClock, serveOnLoopback } from '@floodgate/core/testing'
import express5, { type Express as App } from 'express'
import express4 from 'express4'
import { describe, expect, it } from 'vitest'
import { rateLimit } from './index.js'

// A file of its own: the accessor of `req.rateLimit` goes on Express's request prototype once per
// copy of Express, and here the first limiter to run is in a sub-app mounted in a sub-app.

type Express = typeof express5

/** A memory store whose clock stands still: no minute's end can fall between a test's requests. */
const stillStore = () => memoryStore({ clock: manualClock(1_800_000_000_000) })

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as Express],
])('%s: req.rateLimit from a sub-app two levels down', (_name, express) => {
  it('stays readable when the request falls back to the top app', async () => {
    const app: App = express()
    const v1 = express()
    const admin = express()
    admin.use(
      rateLimit({
        policies: fixedWindow({ name: 'admin', limit: 2, window: '1 m' }),
        store: stillStore(),
        logger: false,
      }),
    )
    v1.use('/admin', admin)
    app.use('/v1', v1)
    app.use((req, res) => {
      res.status(404).send(`${req.rateLimit?.policy} ${req.rateLimit?.remaining}`)
    })
    const server = await serveOnLoopback(createServer(app))
    try {
      const seen: string[] = []
      for (let i = 0; i < 2; i++) seen.push(await (await fetch(`${server.base}/v1/admin/none`)).text())
      expect(seen).toEqual(['admin 1', 'admin 0'])
    } finally {
      await server.close()
    }
  })
})
