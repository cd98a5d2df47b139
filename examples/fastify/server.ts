// Fastify + Floodgate: 5 requests per minute per client IP, a sliding window, for every route
// except /health, which opts out in its route config.
// Run: node --conditions=@floodgate/source --import tsx examples/fastify/server.ts
import { memoryStore, type RateLimitStore, slidingWindow } from '@floodgate/core'
import { fastifyRateLimit } from '@floodgate/fastify'
import Fastify, { type FastifyInstance } from 'fastify'
import {
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

export async function createApp(options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(fastifyRateLimit, {
    policies: slidingWindow({ name: 'api', limit: 5, window: '1 m' }),
    store: options.store ?? memoryStore(),
    prefix: options.prefix ?? 'example-fastify',
    headers: ['draft-8', 'legacy'], // the default, written out to show the option
  })
  app.get('/health', { config: { rateLimit: false } }, async () => ({ status: 'ok' }))
  app.get('/api/hello', async (request) => ({ message: 'hello', remaining: request.rateLimit?.remaining }))
  return app
}

export async function start(options: StartOptions = {}): Promise<RunningExample> {
  const store = await storeFromEnv(options.env)
  const app = await createApp({ store: store.store, prefix: options.prefix })
  await app.listen({ port: options.port ?? defaultPort(), host: options.host ?? '127.0.0.1' })
  // Fastify's close() stops the server and runs the plugin's onClose hooks (closing the limiter).
  return running(app.server, store, () => app.close())
}

if (isMain(import.meta.url)) {
  serveUntilSignal('Fastify', start(), ['/api/hello', '/health'])
}
