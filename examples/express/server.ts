// Express + Floodgate: 5 requests per minute per client IP on /api, a sliding window; /health is
// never limited. Run: node --conditions=@floodgate/source --import tsx examples/express/server.ts
import { createServer } from 'node:http'
import { memoryStore, type RateLimitStore, slidingWindow } from '@floodgate/core'
import { rateLimit } from '@floodgate/express'
import express, { type Express } from 'express'
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

export function createApp(options: AppOptions = {}): { app: Express; close(): Promise<void> } {
  const limiter = rateLimit({
    policies: slidingWindow({ name: 'api', limit: 5, window: '1 m' }),
    store: options.store ?? memoryStore(),
    prefix: options.prefix ?? 'example-express',
    headers: ['draft-8', 'legacy'], // the default, written out to show the option
    skip: (req) => req.path === '/health',
  })
  const app = express()
  app.use(limiter)
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' })
  })
  app.get('/api/hello', (req, res) => {
    res.json({ message: 'hello', remaining: req.rateLimit?.remaining })
  })
  return { app, close: () => limiter.limiter.close() }
}

export async function start(options: StartOptions = {}): Promise<RunningExample> {
  const store = await storeFromEnv(options.env)
  const { app, close } = createApp({ store: store.store, prefix: options.prefix })
  const server = createServer(app).listen(options.port ?? defaultPort(), options.host ?? '127.0.0.1')
  return running(server, store, async () => {
    await closeServer(server)
    await close()
  })
}

if (isMain(import.meta.url)) {
  serveUntilSignal('Express', start(), ['/api/hello', '/health'])
}
