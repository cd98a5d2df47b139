// Type test (checked by tsc): ctx.state.rateLimit is typed for Koa's DefaultState and, through
// RateLimitState, for an app with a state type of its own.
import type { Decision } from '@floodgate/core'
import { type RateLimitState, rateLimit } from '@floodgate/koa'
import Koa from 'koa'

interface MyState {
  user?: string
}

const plain = new Koa()
plain.use((ctx) => {
  const decision: Decision | undefined = ctx.state.rateLimit
  return decision
})

const own = new Koa<MyState & RateLimitState>()
own.use(rateLimit({ policies: [] as never }))
own.use((ctx) => {
  const decision: Decision | undefined = ctx.state.rateLimit
  const user: string | undefined = ctx.state.user
  return [decision, user]
})
