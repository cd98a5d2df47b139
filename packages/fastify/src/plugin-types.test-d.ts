// Type tests (checked by tsc -b): the plugin's registration options on Fastify's own types, and
// `request.rateLimit` (route-config-types pins a route's `config.rateLimit`). Each `@ts-expect-error`
// line is a use the public types must refuse (the runtime refuses it too); the rest must compile.
import { createRateLimiter, type Decision, fixedWindow, type RateLimiter } from '@floodgate/core'
import { type FastifyRateLimitOptions, fastifyRateLimit, type OnLimited } from '@floodgate/fastify'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'

/** True when A and B are the same type; `any` equals only `any`, optional differs from required. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Expect<T extends true> = T

const policies = fixedWindow({ limit: 100, window: '1 m' })
const app = Fastify()

// register() checks the options against FastifyRateLimitOptions: limiter options or `limiter`,
// `global`, and the callbacks, which receive FastifyRequest and may answer a value or a promise.
export async function register(): Promise<void> {
  await app.register(fastifyRateLimit, { policies })
  await app.register(fastifyRateLimit, { limiter: createRateLimiter({ policies }), global: false })
  await app.register(fastifyRateLimit, {
    policies,
    prefix: 'api',
    headers: ['draft-7', 'legacy'],
    key: (request) => request.headers['x-api-key']?.toString() ?? request.ip,
    tier: async (request) => (request.url.startsWith('/pro') ? 'pro' : undefined),
    cost: (request) => (request.method === 'POST' ? 5 : 1),
    skip: async (request) => request.url === '/health',
    onLimited: (_request, reply, decision) => reply.code(429).send({ retryAfterMs: decision.retryAfterMs }),
  })
  await app.register(fastifyRateLimit, {
    policies,
    onLimited: async () => {
      throw Object.assign(new Error('slow down'), { statusCode: 429 })
    },
  })
  // @ts-expect-error global is a boolean
  await app.register(fastifyRateLimit, { policies, global: 'no' })
  // @ts-expect-error a key is a string
  await app.register(fastifyRateLimit, { policies, key: () => 42 })
  // @ts-expect-error a cost is a number
  await app.register(fastifyRateLimit, { policies, cost: async () => '2' })
  // @ts-expect-error FastifyRequest has no `nope`
  await app.register(fastifyRateLimit, { policies, key: (request) => request.nope })
  // @ts-expect-error not a header format
  await app.register(fastifyRateLimit, { policies, headers: 'draft-9' })
  // @ts-expect-error a limiter is a RateLimiter
  await app.register(fastifyRateLimit, { limiter: {} })
  // @ts-expect-error the prefix is a string
  await app.register(fastifyRateLimit, { policies, prefix: 1 })
}
export type PluginOptions = [
  Expect<Equal<FastifyRateLimitOptions['global'], boolean | undefined>>,
  Expect<Equal<FastifyRateLimitOptions['limiter'], RateLimiter | undefined>>,
  Expect<Equal<Parameters<NonNullable<FastifyRateLimitOptions['key']>>, [req: FastifyRequest]>>,
  Expect<Equal<ReturnType<NonNullable<FastifyRateLimitOptions['key']>>, string | Promise<string>>>,
  Expect<Equal<Parameters<NonNullable<FastifyRateLimitOptions['skip']>>, [req: FastifyRequest]>>,
  Expect<Equal<ReturnType<NonNullable<FastifyRateLimitOptions['skip']>>, boolean | Promise<boolean>>>,
  Expect<Equal<Parameters<NonNullable<FastifyRateLimitOptions['cost']>>, [req: FastifyRequest]>>,
  Expect<Equal<Parameters<NonNullable<FastifyRateLimitOptions['tier']>>, [req: FastifyRequest]>>,
  Expect<Equal<OnLimited, (request: FastifyRequest, reply: FastifyReply, decision: Decision) => unknown>>,
  Expect<Equal<NonNullable<FastifyRateLimitOptions['onLimited']>, OnLimited>>,
]

// request.rateLimit is the decision or undefined (skipped, or on an unlimited route), in handlers
// and hooks alike.
app.get('/remaining', async (request) => {
  const decision: Decision | undefined = request.rateLimit
  // @ts-expect-error the decision may be undefined
  request.rateLimit.remaining
  return { remaining: decision?.remaining }
})
app.addHook('onSend', async (request) => {
  request.rateLimit = undefined
})
export type RequestAugmentation = Expect<Equal<FastifyRequest['rateLimit'], Decision | undefined>>
