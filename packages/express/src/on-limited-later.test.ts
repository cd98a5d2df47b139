import { createServer } from 'node:http'
import { fixedWindow, memoryStore } from '@floodgate/core'
import { manualClock, serveOnLoopback } from '@floodgate/core/testing'
import express5 from 'express'
import express4 from 'express4'
import { describe, expect, it } from 'vitest'
import { type OnLimited, rateLimit } from './index.js'

// Express's own style: a handler may answer later, from a callback (a timer, a file read, a view
// rendered). An onLimited that returns no promise is left to answer in its own time; only one that
// returns a promise is done when that settles.

/** A memory store whose clock stands still: no minute's end can fall between a test's requests. */
const stillStore = () => memoryStore({ clock: manualClock(1_800_000_000_000) })

async function secondAnswer(express: typeof express5, onLimited: OnLimited, method = 'GET') {
  const app = express()
  const errors: unknown[] = []
  app.use(rateLimit({ policies: fixedWindow({ limit: 1, window: '1 m' }), store: stillStore(), onLimited }))
  app.get('/', (_req, res) => void res.send('route'))
  app.use((error: unknown, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
    errors.push(error)
    res.status(500).end()
  })
  const server = await serveOnLoopback(createServer(app))
  try {
    await fetch(`${server.base}/`, { method })
    const response = await fetch(`${server.base}/`, { method, signal: AbortSignal.timeout(5_000) })
    return {
      status: response.status,
      body: await response.text(),
      length: response.headers.get('content-length'),
      errors,
    }
  } finally {
    await server.close()
  }
}

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express5],
])('%s: onLimited', (_name, express) => {
  it('may answer later from a callback when it returns no promise', async () => {
    const later: OnLimited = (_req, res) => {
      setImmediate(() => res.status(429).send('custom, later'))
    }
    expect(await secondAnswer(express, later)).toMatchObject({
      status: 429,
      body: 'custom, later',
      errors: [],
    })
  })

  it('may answer later when it returns null, as when it returns nothing', async () => {
    const later: OnLimited = (_req, res) => {
      setImmediate(() => res.status(429).send('custom, later'))
      return null
    }
    expect(await secondAnswer(express, later)).toMatchObject({
      status: 429,
      body: 'custom, later',
      errors: [],
    })
  })

  it('keeps an answer its promise sent with the default status 200, with no second answer and no error', async () => {
    const soft: OnLimited = async (_req, res) => void res.send('soft limit')
    expect(await secondAnswer(express, soft)).toMatchObject({ status: 200, body: 'soft limit', errors: [] })
  })

  it('may pass the request on with next(error), from a promise too', async () => {
    const passOn: OnLimited = async (_req, _res, next) => next(new Error('limited, handled elsewhere'))
    const result = await secondAnswer(express, passOn)
    expect(result.status).toBe(500)
    expect(result.errors).toEqual([new Error('limited, handled elsewhere')])
  })
})

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express5],
])('%s: an onLimited promise that settles with nothing sent', (_name, express) => {
  it('is left to answer when it set a status, even from a callback after it settled', async () => {
    const later: OnLimited = async (_req, res) => {
      res.status(503)
      setImmediate(() => res.send('later'))
    }
    expect(await secondAnswer(express, later)).toMatchObject({ status: 503, body: 'later', errors: [] })
  })

  it('gets the default 429 when it set nothing, with its Content-Length on HEAD too', async () => {
    const nothing: OnLimited = async () => undefined
    const get = await secondAnswer(express, nothing)
    expect(get).toMatchObject({ status: 429, errors: [] })
    expect(Number(get.length)).toBe(Buffer.byteLength(get.body))
    const head = await secondAnswer(express, nothing, 'HEAD')
    expect({ status: head.status, body: head.body, length: head.length }).toEqual({
      status: 429,
      body: '',
      length: get.length,
    })
  })
})

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express5],
])('%s: an onLimited promise that passed the request on', (_name, express) => {
  it('leaves it to the route, which may answer later, with no 429 of its own', async () => {
    const app = express()
    const errors: unknown[] = []
    app.use(
      rateLimit({
        policies: fixedWindow({ limit: 1, window: '1 m' }),
        store: stillStore(),
        // A soft limit: let the request through.
        onLimited: async (_req, _res, next) => next(),
      }),
    )
    app.get('/', (_req, res) => void setImmediate(() => res.send('route, later')))
    app.use(
      (error: unknown, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
        errors.push(error)
        res.status(500).end()
      },
    )
    const server = await serveOnLoopback(createServer(app))
    try {
      await fetch(`${server.base}/`)
      const response = await fetch(`${server.base}/`, { signal: AbortSignal.timeout(5_000) })
      expect([response.status, await response.text(), errors]).toEqual([200, 'route, later', []])
    } finally {
      await server.close()
    }
  })
})
