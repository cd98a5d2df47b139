import { createServer } from 'node:http'
import { fixedWindow, memoryStore } from '@floodgate/core'
import { manualClock, serveOnLoopback } from '@floodgate/core/testing'
import express5, { type RequestHandler } from 'express'
import express4 from 'express4'
import { describe, expect, it } from 'vitest'
import { type RateLimitOptions, rateLimit } from './index.js'

// A limit for part of an app is only as good as the router's choice of which middleware a request
// passes (docs/security.md, section 9). Express matches `app.use(path)`, routers and sub-apps
// mounted at a path and routes the same way, case-insensitively by default; a path matched by the
// app itself (a RegExp mount, a `skip` reading `req.path`) must do the same, or `/SEARCH` reaches
// the route past the limiter.

type Express = typeof express5
type Mount = (
  app: ReturnType<Express>,
  express: Express,
  limit: RequestHandler,
  route: RequestHandler,
) => void

const SAFE: Record<string, Mount> = {
  "in the route's own handler list": (app, _e, limit, route) => {
    app.get('/search', limit, route)
  },
  'with app.use(path)': (app, _e, limit, route) => {
    app.use('/search', limit)
    app.get('/search', route)
  },
  'in a Router mounted at a path': (app, express, limit, route) => {
    const router = express.Router()
    router.use(limit)
    router.get('/', route)
    app.use('/search', router)
  },
}

const PASSED_BY: Record<string, Mount> = {
  'mounted with a RegExp': (app, _e, limit, route) => {
    app.use(/^\/search/, limit)
    app.get('/search', route)
  },
  'app-wide, skipping every path but /search as written': (app, _e, limit, route) => {
    app.use(limit)
    app.get('/search', route)
  },
}

/** What the route admits, and the statuses, for /search three times then three other spellings. */
async function attack(express: Express, mount: Mount, options: Partial<RateLimitOptions> = {}) {
  const app = express()
  let ran = 0
  const limit = rateLimit({
    policies: fixedWindow({ limit: 2, window: '1 m' }),
    store: memoryStore({ clock: manualClock(1_800_000_000_000) }),
    logger: false,
    ...options,
  })
  mount(app, express, limit, (_req, res) => {
    ran++
    res.send('ok')
  })
  const server = await serveOnLoopback(createServer(app))
  try {
    const statuses: number[] = []
    for (const path of ['/search', '/search', '/search', '/SEARCH', '/Search/', '/sEaRcH?q=1']) {
      statuses.push((await fetch(`${server.base}${path}`)).status)
    }
    return { ran, statuses }
  } finally {
    await server.close()
  }
}

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as Express],
])('%s: a limit on part of the app', (_name, express) => {
  it.each(Object.keys(SAFE))(
    'a limiter %s holds every spelling that reaches the route to the limit',
    async (mount) => {
      const { ran, statuses } = await attack(express, SAFE[mount]!)
      expect(statuses).toEqual([200, 200, 429, 429, 429, 429])
      expect(ran).toBe(2)
    },
  )

  it.each(Object.keys(PASSED_BY))(
    'a limiter %s is passed by: /SEARCH reaches the route unlimited',
    async (mount) => {
      const skip = mount.startsWith('app-wide')
        ? { skip: (req: { path: string }) => req.path !== '/search' }
        : {}
      const { ran, statuses } = await attack(express, PASSED_BY[mount]!, skip)
      expect(statuses).toEqual([200, 200, 429, 200, 200, 200])
      expect(ran).toBe(5)
    },
  )
})
