import { createServer } from 'node:http'
import { fixedWindow, memoryStore } from '@floodgate/core'
import { manualClock, serveOnLoopback } from '@floodgate/core/testing'
import express5, { type Request, type RequestHandler } from 'express'
import express4 from 'express4'
import { describe, expect, it } from 'vitest'
import { rateLimit } from './index.js'

// Express swaps each request's prototype, so every property added to `req` costs V8 a new hidden
// class: the middleware adds nothing to `req`. `req.rateLimit` (the contract's name) is an accessor
// on Express's request prototype, and the mark that stops a second mount of the same limiter from
// counting again lives in `res.locals`.

type Express = typeof express5

/** A memory store whose clock stands still: no minute's end can fall between a test's requests. */
const stillStore = () => memoryStore({ clock: manualClock(1_800_000_000_000) })

interface Seen {
  addedNames: string[]
  addedSymbols: number
  localSymbols: number
  remaining: number | undefined
}

async function serve(
  express: Express,
  before: RequestHandler[],
  limiter: RequestHandler,
  requests: number,
): Promise<Seen[]> {
  const app = express()
  const seen: Seen[] = []
  const snapshots = new WeakMap<Request, { names: Set<string>; symbols: number }>()
  app.use((req, _res, next) => {
    snapshots.set(req, {
      names: new Set(Object.getOwnPropertyNames(req)),
      symbols: Object.getOwnPropertySymbols(req).length,
    })
    next()
  })
  for (const handler of before) app.use(handler)
  app.use(limiter)
  const router = express.Router()
  router.use(limiter)
  router.get('/', (req, res) => {
    const snapshot = snapshots.get(req)!
    const locals = res.locals as object | undefined
    seen.push({
      addedNames: Object.getOwnPropertyNames(req).filter((name) => !snapshot.names.has(name)),
      addedSymbols: Object.getOwnPropertySymbols(req).length - snapshot.symbols,
      localSymbols: locals === undefined ? 0 : Object.getOwnPropertySymbols(locals).length,
      remaining: req.rateLimit?.remaining,
    })
    res.send('ok')
  })
  app.use(router)
  const server = await serveOnLoopback(createServer(app))
  try {
    for (let i = 0; i < requests; i++) expect((await fetch(`${server.base}/`)).status).toBe(200)
  } finally {
    await server.close()
  }
  return seen
}

const limiterOf = () =>
  rateLimit({ policies: fixedWindow({ limit: 5, window: '1 m' }), store: stillStore(), logger: false })

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as Express],
])('%s: what the middleware writes on the request', (_name, express) => {
  it('adds nothing to req and marks the request counted in res.locals, once for two mounts', async () => {
    const seen = await serve(express, [], limiterOf(), 2)
    // Whatever Express added on the way, Floodgate added nothing; req.rateLimit reads the decision.
    for (const s of seen) {
      expect(s.addedNames.filter((name) => !isExpressOwn(name))).toEqual([])
      expect(s.addedSymbols).toBe(0)
      expect(s.localSymbols).toBe(1)
    }
    // Mounted on the app and again on the router, the limiter counted each request once.
    expect(seen.map((s) => s.remaining)).toEqual([4, 3])
  })

  it('keeps the mark on req when res.locals is not an object, still counting once', async () => {
    const dropLocals: RequestHandler = (_req, res, next) => {
      ;(res as { locals: unknown }).locals = undefined
      next()
    }
    const seen = await serve(express, [dropLocals], limiterOf(), 2)
    expect(seen.map((s) => s.addedSymbols)).toEqual([1, 1])
    expect(seen.map((s) => s.remaining)).toEqual([4, 3])
  })
})

/** Properties Express itself sets on a request as it routes it. */
function isExpressOwn(name: string): boolean {
  return ['baseUrl', 'originalUrl', 'params', 'next', 'route', 'res', 'query', '_parsedUrl'].includes(name)
}
