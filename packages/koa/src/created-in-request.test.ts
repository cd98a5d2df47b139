import { createServer } from 'node:http'
import { fixedWindow } from '@floodgate/core'
import { serveOnLoopback } from '@floodgate/core/testing'
import Koa3, { type Middleware } from 'koa'
import Koa2 from 'koa2'
import { describe, expect, it, vi } from 'vitest'

// A middleware made inside another is a new limiter for every request: it limits nothing. The
// warning says so, once in the process: each test loads the adapter afresh (vi.resetModules).
// Windows of a day, on the process clock: two requests a few ms apart never straddle one's end
// but at midnight UTC.

async function statuses(middleware: Middleware[], Koa: typeof Koa3, count: number): Promise<number[]> {
  const app = new Koa()
  for (const m of middleware) app.use(m)
  app.use((ctx) => {
    ctx.body = 'ok'
  })
  const server = await serveOnLoopback(createServer(app.callback()))
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
  const limited = () =>
    rateLimit({
      policies: fixedWindow({ limit: 1, window: '1 d' }),
      logger: { warn: (line) => lines.push(line) },
    })
  return { limited, lines }
}

describe.each([
  ['koa 3', Koa3],
  ['koa 2', Koa2 as unknown as typeof Koa3],
])('%s: a middleware created', (_name, Koa) => {
  it('with the app is not warned of', async () => {
    const { limited, lines } = await freshAdapter()
    expect(await statuses([limited()], Koa, 2)).toEqual([200, 429])
    expect(lines).toEqual([])
  })

  it('for each request limits nothing, and is warned of once, naming the fix', async () => {
    const { limited, lines } = await freshAdapter()
    expect(await statuses([(ctx, next) => limited()(ctx, next)], Koa, 3)).toEqual([200, 200, 200])
    expect(lines).toEqual([
      expect.stringMatching(
        /^\[floodgate\] WARN_FLOODGATE_CREATED_IN_REQUEST: rateLimit\(\) was called while a request was being handled\. /,
      ),
    ])
  })
})

describe.each([
  ['koa 3', Koa3],
  ['koa 2', Koa2 as unknown as typeof Koa3],
])('%s: rateLimit mounted without being called', (_name, Koa) => {
  it('fails each request with an error naming the fix, not an unknown option of the context', async () => {
    vi.resetModules()
    const { rateLimit } = await import('./index.js')
    const errors: unknown[] = []
    const app = new Koa()
    app.silent = true
    app.on('error', (error) => errors.push(error))
    app.use(rateLimit as never)
    app.use((ctx) => {
      ctx.body = 'ok'
    })
    const server = await serveOnLoopback(createServer(app.callback()))
    try {
      expect((await fetch(`${server.base}/`)).status).toBe(500)
    } finally {
      await server.close()
    }
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
