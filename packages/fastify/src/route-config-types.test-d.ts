// Type test (checked by tsc): a route's `config.rateLimit` takes the route's options or false, and
// nothing else; request.rateLimit is the decision.
import { createRateLimiter, type Decision, fixedWindow } from '@floodgate/core'
import Fastify from 'fastify'

const app = Fastify()
const policies = fixedWindow({ limit: 10, window: '1 m' })

app.get('/options', { config: { rateLimit: { policies } } }, async (request) => {
  const decision: Decision | undefined = request.rateLimit
  return decision?.remaining
})
app.get('/shared', { config: { rateLimit: { limiter: createRateLimiter({ policies }) } } }, async () => 'ok')
app.get('/off', { config: { rateLimit: false } }, async () => 'ok')
app.get('/unset', { config: {} }, async () => 'ok')

// @ts-expect-error a number is not a route's limits
app.get('/number', { config: { rateLimit: 42 } }, async () => 'ok')
// @ts-expect-error true is not a route's limits (write the options, or leave rateLimit out)
app.get('/true', { config: { rateLimit: true } }, async () => 'ok')
// @ts-expect-error a string is not a route's limits
app.get('/string', { config: { rateLimit: 'yes' } }, async () => 'ok')
