import { createServer } from 'node:http'
import { fixedWindow } from '@floodgate/core'
import { serveOnLoopback } from '@floodgate/core/testing'
import express5, { type Express as App } from 'express'
import express4 from 'express4'
import { describe, expect, it, vi } from 'vitest'
import type { RateLimitOptions } from './index.js'

// A middleware made inside a handler is a new limiter for every request: it limits nothing. The
// warning says so, once in the process: each test loads the adapter afresh (vi.resetModules).
// Windows of a day, on the process clock: two requests a few ms apart never straddle one's end
// but at midnight UTC.

type Express = typeof express5

async function statuses(app: App, count: number): Promise<number[]> {
  const server = await serveOnLoopback(createServer(app))
  const out: number[] = []
  try {
    for (let i = 0; i < count; i++) out.push((await fetch(`${server.base}/`)).status)
  } finally {
    await server.close()
  }
  return out
}

async function freshAdapter() {
  vi.resetModules()
  const lines: string[] = []
  const { rateLimit } = await import('./index.js')
  const { createRateLimiter, memoryStore } = await import('@floodgate/core')
  const logger = { warn: (line: string) => lines.push(line) }
  const policies = fixedWindow({ limit: 1, window: '1 d' })
  const limited = (extra: Partial<RateLimitOptions> = {}) => rateLimit({ policies, logger, ...extra })
  return { limited, lines, logger, rateLimit, createRateLimiter, memoryStore }
}

describe('a middleware created for each request', () => {
  it('around a limiter of the app (a wrapper) is not warned of', async () => {
    const { rateLimit, lines, logger, createRateLimiter } = await freshAdapter()
    const limiter = createRateLimiter({ policies: fixedWindow({ limit: 1, window: '1 d' }), logger })
    const app = express5()
    app.use((req, res, next) => rateLimit({ limiter })(req, res, next))
    app.get('/', (_req, res) => {
      res.send('ok')
    })
    expect(await statuses(app, 2)).toEqual([200, 429])
    expect(lines).toEqual([])
  })

  it('on a store of the app still limits, and is warned of as a limiter made per request', async () => {
    const { limited, lines, memoryStore } = await freshAdapter()
    const store = memoryStore()
    const app = express5()
    app.use((req, res, next) => limited({ store })(req, res, next))
    app.get('/', (_req, res) => {
      res.send('ok')
    })
    expect(await statuses(app, 2)).toEqual([200, 429])
    expect(lines.filter((line) => line.includes('CREATED_IN_REQUEST'))).toEqual([
      expect.stringMatching(
        /a limiter of its own, made and registered for each request \(it still counts in the store it was given\)/,
      ),
    ])
  })

  it('is not checked, and nothing throws, where Error.stackTraceLimit cannot be set (frozen intrinsics)', async () => {
    const { limited } = await freshAdapter()
    const limit = Error.stackTraceLimit
    Object.defineProperty(Error, 'stackTraceLimit', { value: limit, writable: false, configurable: true })
    try {
      expect(() => limited()).not.toThrow()
    } finally {
      Object.defineProperty(Error, 'stackTraceLimit', { value: limit, writable: true, configurable: true })
    }
  })

  it('is warned of when made deep in the handler, past the default 10 stack frames', async () => {
    const { limited, lines } = await freshAdapter()
    const deep = (depth: number): ReturnType<typeof limited> => (depth === 0 ? limited() : deep(depth - 1))
    const app = express5()
    app.use((req, res, next) => deep(20)(req, res, next))
    app.get('/', (_req, res) => {
      res.send('ok')
    })
    expect(await statuses(app, 1)).toEqual([200])
    expect(lines).toEqual([expect.stringMatching(/WARN_FLOODGATE_CREATED_IN_REQUEST/)])
  })

  it("leaves the app's Error.stackTraceLimit as it was", async () => {
    const { limited } = await freshAdapter()
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 7
    try {
      limited()
      expect(Error.stackTraceLimit).toBe(7)
    } finally {
      Error.stackTraceLimit = limit
    }
  })

  it('that silences the code leaves the check on for the others', async () => {
    const { limited, lines } = await freshAdapter()
    const app = express5()
    app.use('/lazy', (req, res, next) =>
      limited({ silenceWarnings: ['WARN_FLOODGATE_CREATED_IN_REQUEST'] })(req, res, next),
    )
    app.use((req, res, next) => limited()(req, res, next))
    app.get('/', (_req, res) => {
      res.send('ok')
    })
    const server = await serveOnLoopback(createServer(app))
    try {
      await fetch(`${server.base}/lazy`)
      await fetch(`${server.base}/`)
    } finally {
      await server.close()
    }
    expect(lines).toEqual([expect.stringMatching(/WARN_FLOODGATE_CREATED_IN_REQUEST/)])
  })
})

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as Express],
])('%s: a middleware created', (_name, express) => {
  it('with the app is not warned of', async () => {
    const { limited, lines } = await freshAdapter()
    const app = express()
    app.use(limited())
    app.get('/', (_req, res) => {
      res.send('ok')
    })
    expect(await statuses(app, 2)).toEqual([200, 429])
    expect(lines).toEqual([])
  })

  it('for each request limits nothing, and is warned of once, naming the fix', async () => {
    const { limited, lines } = await freshAdapter()
    const app = express()
    app.use((req, res, next) => limited()(req, res, next))
    app.get('/', (_req, res) => {
      res.send('ok')
    })
    expect(await statuses(app, 3)).toEqual([200, 200, 200])
    expect(lines).toEqual([
      expect.stringMatching(
        /^\[floodgate\] WARN_FLOODGATE_CREATED_IN_REQUEST: rateLimit\(\) was called while a request was being handled\. A middleware made for each request has a limiter and counters of its own, so it limits nothing: create it once, when the app is set up/,
      ),
    ])
  })
})

describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as Express],
])('%s: rateLimit mounted without being called', (_name, express) => {
  it('fails each request with an error naming the fix, not an unknown option of the request', async () => {
    const { rateLimit } = await freshAdapter()
    const errors: unknown[] = []
    const app = express()
    app.use(rateLimit as never)
    app.get('/', (_req, res) => {
      res.send('ok')
    })
    app.use(
      (error: unknown, _req: unknown, res: { status(code: number): { end(): void } }, _next: unknown) => {
        errors.push(error)
        res.status(500).end()
      },
    )
    expect(await statuses(app, 1)).toEqual([500])
    expect(errors).toEqual([
      expect.objectContaining({
        code: 'ERR_FLOODGATE_INVALID_OPTION',
        option: 'rateLimit(options)',
        message: expect.stringMatching(
          /^Invalid `rateLimit\(options\)`: got a request, so `rateLimit` itself was mounted \(`app\.use\(rateLimit\)`\) and is being called with each request\. Call it once, when the app is set up, and mount what it returns: `app\.use\(rateLimit\(\{ policies: slidingWindow/,
        ),
      }),
    ])
  })
})
