import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type AdapterDriver,
  type BehaviourApp,
  runAdapterBehaviour,
  runAdapterTraces,
} from '@floodgate/core/testing'
import Router from '@koa/router'
import Koa3, { type Context, type Middleware } from 'koa'
import Koa2 from 'koa2'
import { type RateLimitOptions, rateLimit } from './index.js'

type KoaClass = typeof Koa3

/** Builds the table's app on one Koa major and serves it on a loopback port. */
function driver(name: string, Koa: KoaClass): AdapterDriver {
  return {
    name,
    answerLimited: (status: number, text: string) => (ctx: Context) => {
      ctx.status = status
      ctx.body = text
    },
    start: async (spec: BehaviourApp) => {
      const errors: unknown[] = []
      let handled = 0
      const handler: Middleware = (ctx) => {
        handled++
        ctx.body = { remaining: ctx.state.rateLimit?.remaining ?? null }
      }
      const app = new Koa()
      app.proxy = spec.trustProxy === true
      if (spec.trustProxy === true) app.maxIpsCount = 1
      app.silent = true
      app.use(async (_ctx, next) => {
        try {
          await next()
        } catch (error) {
          errors.push(error)
          throw error
        }
      })
      const early = spec.earlyHeaders
      if (early !== undefined) {
        app.use((ctx, next) => {
          ctx.set(early)
          return next()
        })
      }
      // Routes with their own limiter, or none, answer before the app-wide limiter.
      const special = new Router()
      for (const route of spec.routes ?? []) {
        if (route.rateLimit === false) special.get(route.path, handler)
        else special.get(route.path, rateLimit(route.rateLimit as RateLimitOptions), handler)
      }
      app.use(special.routes())
      const main = new Router()
      if (spec.global !== undefined) {
        const limiter = rateLimit(spec.global as RateLimitOptions)
        app.use(limiter)
        if (spec.mountTwice === true) main.use(limiter)
        else if (spec.mountTwice) main.use(rateLimit(spec.mountTwice as RateLimitOptions))
      }
      main.get('/', handler)
      app.use(main.routes())
      const server = createServer(app.callback()).listen(0, '127.0.0.1')
      await new Promise<void>((resolve, reject) => {
        server.once('listening', resolve)
        server.once('error', reject)
      })
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      return {
        errors,
        handled: () => handled,
        get: async (path: string, headers: Record<string, string> = {}) => {
          const response = await fetch(base + path, { headers })
          return { status: response.status, headers: response.headers, body: await response.text() }
        },
        close: async () => {
          server.closeAllConnections()
          await new Promise((resolve) => server.close(resolve))
        },
      }
    },
  }
}

runAdapterBehaviour(driver('koa 3', Koa3))
runAdapterBehaviour(driver('koa 2', Koa2 as unknown as KoaClass))
runAdapterTraces([driver('koa 3', Koa3), driver('koa 2', Koa2 as unknown as KoaClass)])
