import { createServer, IncomingMessage } from 'node:http'
import { type Decision, fixedWindow, memoryStore } from '@floodgate/core'
import { manualClock, serveOnLoopback } from '@floodgate/core/testing'
import express5, { type Express as App, type Request } from 'express'
import express4 from 'express4'
import { describe, expect, it } from 'vitest'
import { exposeDecision } from './decision-property.js'
import { type RateLimitOptions, rateLimit } from './index.js'

// `req.rateLimit` is an accessor on Express's request prototype (decision-property.ts): what an app
// reads through it must be what an own property would have given.

type Express = typeof express5

/** A memory store whose clock stands still: no minute's end can fall between a test's requests. */
const stillStore = () => memoryStore({ clock: manualClock(1_800_000_000_000) })

const limiterOf = (extra: Partial<RateLimitOptions> = {}) =>
  rateLimit({
    policies: fixedWindow({ limit: 5, window: '1 m' }),
    store: stillStore(),
    logger: false,
    ...extra,
  })

/** GETs each path in turn and returns the bodies. */
async function bodies(app: App, paths: string[]): Promise<string[]> {
  const server = await serveOnLoopback(createServer(app))
  const out: string[] = []
  try {
    for (const path of paths) out.push(await (await fetch(`${server.base}${path}`)).text())
  } finally {
    await server.close()
  }
  return out
}

const remainingOf = (req: Request) => String(req.rateLimit?.remaining)

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as Express],
])('%s: req.rateLimit', (_name, express) => {
  it('stays readable in the parent app after a sub-app that ran the limiter hands the request back', async () => {
    const app = express()
    const sub = express()
    sub.use(limiterOf())
    sub.use((_req, _res, next) => next())
    app.use(sub)
    app.get('/', (req, res) => {
      res.send(`${remainingOf(req)} ${Object.hasOwn(req, 'rateLimit')}`)
    })
    expect(await bodies(app, ['/', '/'])).toEqual(['4 false', '3 false'])
  })

  it('is undefined on requests the limiter skipped or never saw, and never another request’s', async () => {
    const app = express()
    app.use('/limited', limiterOf())
    app.use('/skipped', limiterOf({ skip: () => true }))
    app.get('/:where', (req, res) => {
      res.send(remainingOf(req))
    })
    expect(await bodies(app, ['/limited', '/free', '/skipped', '/limited', '/free'])).toEqual([
      '4',
      'undefined',
      'undefined',
      '3',
      'undefined',
    ])
  })

  it('takes the app’s own assignment, before and after the limiter', async () => {
    const app = express()
    app.use((req, _res, next) => {
      ;(req as { rateLimit?: unknown }).rateLimit = 'set before'
      next()
    })
    app.get('/before', (req, res) => {
      res.send(String(req.rateLimit))
    })
    app.use(limiterOf())
    app.use((req, _res, next) => {
      const seen = remainingOf(req)
      ;(req as { rateLimit?: unknown }).rateLimit = `${seen}, then set after`
      next()
    })
    app.get('/after', (req, res) => {
      res.send(String(req.rateLimit))
    })
    expect(await bodies(app, ['/before', '/after'])).toEqual(['set before', '4, then set after'])
  })

  it("keeps the decision through `delete req.rateLimit`, and `'rateLimit' in req` holds on every request (the README's caveats)", async () => {
    const app = express()
    app.use('/limited', limiterOf())
    app.get('/:where', (req, res) => {
      const deleted = delete (req as { rateLimit?: unknown }).rateLimit
      res.send(`${remainingOf(req)} ${deleted} ${'rateLimit' in req}`)
    })
    expect(await bodies(app, ['/limited', '/free'])).toEqual(['4 true true', 'undefined true true'])
  })
})

it('works for apps of Express 4 and 5 in one process, each with its own prototype', async () => {
  const apps = [express5(), (express4 as unknown as Express)()]
  for (const app of apps) {
    app.use(limiterOf())
    app.get('/', (req, res) => {
      res.send(remainingOf(req))
    })
  }
  expect(await bodies(apps[0]!, ['/', '/'])).toEqual(['4', '3'])
  expect(await bodies(apps[1]!, ['/', '/'])).toEqual(['4', '3'])
})

describe('where the prototype is not Express’s shape, req gets an ordinary property', () => {
  const decision = { allowed: true, remaining: 7 } as unknown as Decision

  /** A request shaped as Express builds one: req → app.request → shared → IncomingMessage. */
  function expressShaped(shared: object) {
    const app: { request?: object } = {}
    app.request = Object.create(shared, { app: { value: app } })
    return Object.create(app.request!) as Request
  }

  it('leaves a prototype alone that already has its own rateLimit', () => {
    const theirs = { marker: 'theirs' }
    const shared = Object.create(IncomingMessage.prototype, {
      rateLimit: { value: theirs, writable: true, configurable: true },
    })
    const req = expressShaped(shared)
    exposeDecision(req, decision)
    expect(Object.hasOwn(req, 'rateLimit')).toBe(true)
    expect(req.rateLimit).toBe(decision)
    expect(Object.getOwnPropertyDescriptor(shared, 'rateLimit')?.value).toBe(theirs)
    // Decided once for that prototype: the next request is treated the same way.
    const next = expressShaped(shared)
    exposeDecision(next, decision)
    expect(Object.hasOwn(next, 'rateLimit')).toBe(true)
  })

  it('never puts the accessor on IncomingMessage.prototype or Object.prototype', () => {
    for (const shared of [IncomingMessage.prototype, Object.prototype]) {
      const req = expressShaped(shared)
      exposeDecision(req, decision)
      expect(Object.hasOwn(req, 'rateLimit')).toBe(true)
      expect(Object.hasOwn(shared, 'rateLimit')).toBe(false)
    }
  })

  it('leaves a prototype alone whose chain ends without IncomingMessage.prototype', () => {
    const shared = Object.create(null) as object
    const req = expressShaped(shared)
    exposeDecision(req, decision)
    expect(Object.hasOwn(req, 'rateLimit')).toBe(true)
    expect(Object.hasOwn(shared, 'rateLimit')).toBe(false)
  })

  it("sets an own property, and throws nothing, when the app's request object has no prototype", () => {
    const app: { request?: object } = {}
    app.request = Object.create(null, { app: { value: app } })
    const req = Object.create(app.request!) as Request
    exposeDecision(req, decision)
    expect(Object.hasOwn(req, 'rateLimit')).toBe(true)
    expect(req.rateLimit).toBe(decision)
  })

  it('sets an own property on a request whose prototype is not its app’s request object', () => {
    const shared = Object.create(IncomingMessage.prototype)
    const app = { request: Object.create(shared) }
    const req = Object.assign(Object.create(shared), { app }) as Request
    exposeDecision(req, decision)
    expect(Object.hasOwn(req, 'rateLimit')).toBe(true)
    expect(Object.hasOwn(shared, 'rateLimit')).toBe(false)
  })
})
