// Plans chosen by API key (Express). Every request passes two policies at once: a per-second
// burst (token bucket) and a daily quota (fixed window, reset at 00:00 UTC); the plan sets both.
// Run: node --conditions=@floodgate/source --import tsx examples/tiers/server.ts
import { createServer } from 'node:http'
import {
  clientIpKey,
  createRateLimiter,
  fixedWindow,
  memoryStore,
  PROBLEM_HEADERS,
  problemDetails,
  type RateLimitStore,
  retryAfterSeconds,
  slidingWindow,
  tokenBucket,
} from '@floodgate/core'
import { rateLimit } from '@floodgate/express'
import express, { type Express as ExpressApp, type NextFunction, type Request, type Response } from 'express'
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

/** A policy name is one counter shared by every plan: plans change limits, not names or periods. */
export const PLANS = {
  free: [
    tokenBucket({ name: 'burst', capacity: 5, refillRate: 5, interval: '1 s' }),
    fixedWindow({ name: 'daily', limit: 50, window: '1 d' }),
  ],
  pro: [
    tokenBucket({ name: 'burst', capacity: 20, refillRate: 20, interval: '1 s' }),
    fixedWindow({ name: 'daily', limit: 10_000, window: '1 d' }),
  ],
}
export type Plan = keyof typeof PLANS

interface Account {
  id: string
  plan: Plan
}

/** Stands in for a database of API keys. */
export const API_KEYS: Record<string, Account> = {
  'demo-free-key': { id: 'alice', plan: 'free' },
  'demo-pro-key': { id: 'bob', plan: 'pro' },
}

declare global {
  namespace Express {
    interface Request {
      account?: Account
    }
  }
}

export interface AppOptions {
  /** Default: a fresh memory store. */
  store?: RateLimitStore
  prefix?: string
}

/** Unknown API keys an address may send before it is refused whatever key it sends. */
export const WRONG_KEYS = slidingWindow({ name: 'wrong-keys', limit: 10, window: '1 h' })

export function createApp(options: AppOptions = {}): { app: ExpressApp; close(): Promise<void> } {
  const store = options.store ?? memoryStore()
  const prefix = options.prefix ?? 'example-tiers'
  const limiter = rateLimit({
    tiers: PLANS,
    defaultTier: 'free',
    store,
    prefix,
    // Counted per account, not per IP: the plan follows the account to every address it uses.
    // A request without a valid key is counted by its address on the free plan.
    key: (req) => (req.account ? `account:${req.account.id}` : addressOf(req)),
    // May be async (a database or cache lookup); a plan change applies on the next request.
    tier: async (req) => req.account?.plan,
  })
  // Guessing keys. Limiting requests without a valid key by address does not slow it down: a right
  // guess is counted by its account and answered 200 whatever the address has spent, so the
  // answers tell the guesser which key worked. So the address's unknown keys are counted apart,
  // and checked before the lookup (a database in a real app): once they are spent, every key the
  // address sends is refused, the right one too. The price: one more store call per request
  // carrying a key, for the check.
  const wrongKeys = createRateLimiter({ policies: WRONG_KEYS, store, prefix })

  /** Refuses an address that has sent too many unknown keys, before the lookup. */
  async function checkGuesses(req: Request, res: Response, next: NextFunction): Promise<void> {
    if (req.get('x-api-key') === undefined) return next()
    const guesses = await wrongKeys.peek(addressOf(req))
    if (guesses.allowed) return next()
    // Floodgate's own 429 answer, built from the guesses' decision: problem+json, never cached.
    res
      .status(429)
      .set(PROBLEM_HEADERS)
      .set('retry-after', String(retryAfterSeconds(guesses)))
      .send(JSON.stringify(problemDetails(guesses)))
  }

  /** Sets `req.account` from the API key, or counts an unknown key: the limiter runs either way. */
  async function authenticate(req: Request, _res: Response, next: NextFunction): Promise<void> {
    const key = req.get('x-api-key')
    // Own keys only: `API_KEYS["__proto__"]` or `["constructor"]` would find what every object inherits.
    if (key !== undefined && Object.hasOwn(API_KEYS, key)) req.account = API_KEYS[key]
    else if (key !== undefined) await wrongKeys.limit(addressOf(req))
    next()
  }

  const app = express()
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' })
  })
  app.use('/api', checkGuesses, authenticate, limiter, requireAccount)
  app.get('/api/data', (req: Request, res) => {
    const d = req.rateLimit!
    res.json({ account: req.account!.id, plan: d.tier, policies: d.policies.map(usage) })
  })
  return {
    app,
    close: async () => {
      await wrongKeys.close()
      await limiter.limiter.close()
    },
  }
}

function addressOf(req: Request): string {
  return clientIpKey(req.ip) ?? 'unknown-client'
}

/** After the limiter: a request it let through without a valid key is refused here. */
function requireAccount(req: Request, res: Response, next: NextFunction): void {
  if (req.account === undefined) {
    res.status(401).json({ error: 'Send a valid API key in the x-api-key header.' })
    return
  }
  next()
}

function usage(p: { name: string; limit: number; remaining: number }) {
  return { name: p.name, limit: p.limit, remaining: p.remaining }
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
  serveUntilSignal('Tiers', start(), [
    { header: 'x-api-key: demo-free-key', path: '/api/data' },
    { header: 'x-api-key: demo-pro-key', path: '/api/data' },
  ])
}
