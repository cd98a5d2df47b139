// Koa + Floodgate: 5 requests per minute per client IP on /api, a sliding window; /health is
// never limited. Run: node --conditions=@floodgate/source --import tsx examples/koa/server.ts
import { createServer } from 'node:http'
import { memoryStore, type RateLimitStore, slidingWindow } from '@floodgate/core'
import { rateLimit } from '@floodgate/koa'
import Router from '@koa/router'
import Koa from 'koa'
import {
  closeServer,
  defaultPort,
  isMain,
  type RunningExample,
  running,
  type StartOptions,
  serveUntilSignal,
} from '../shared/running-example.js'
import { storeFromEnv } from '../shared/store-from-env.js'

export interface AppOptions {
  /** Default: a fresh memory store. */
  store?: RateLimitStore
  prefix?: string
}

export function createApp(options: AppOptions = {}): { app: Koa; close(): Promise<void> } {
  const limiter = rateLimit({
    policies: slidingWindow({ name: 'api', limit: 5, window: '1 m' }),
    store: options.store ?? memoryStore(),
    prefix: options.prefix ?? 'example-koa',
    headers: ['draft-8', 'legacy'], // the default, written out to show the option
    skip: (ctx) => ctx.path === '/health',
  })
  const router = new Router()
  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok' }
  })
  router.get('/api/hello', (ctx) => {
    ctx.body = { message: 'hello', remaining: ctx.state.rateLimit?.remaining }
  })
  const app = new Koa()
  app.use(limiter)
  app.use(router.routes())
  app.use(router.allowedMethods())
  return { app, close: () => limiter.limiter.close() }
}

export async function start(options: StartOptions = {}): Promise<RunningExample> {
  const store = await storeFromEnv(options.env)
  const { app, close } = createApp({ store: store.store, prefix: options.prefix })
  const server = createServer(app.callback()).listen(
    options.port ?? defaultPort(),
    options.host ?? '127.0.0.1',
  )
  return running(server, store, async () => {
    await closeServer(server)
    await close()
  })
}

if (isMain(import.meta.url)) {
  serveUntilSignal('Koa', start(), ['/api/hello', '/health'])
}
