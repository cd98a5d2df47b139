import type { AddressInfo } from 'node:net'
import {
  type AdapterDriver,
  type BehaviourApp,
  runAdapterBehaviour,
  runAdapterTraces,
} from '@floodgate/core/testing'
import express5, { type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express'
import express4 from 'express4'
import { type RateLimitOptions, rateLimit } from './index.js'

type ExpressFactory = typeof express5

/** Builds the table's app on one Express major and serves it on a loopback port. */
function driver(name: string, express: ExpressFactory): AdapterDriver {
  return {
    name,
    answerLimited: (status: number, text: string) => (_req: Request, res: Response) =>
      res.status(status).type('text/plain').send(text),
    start: async (spec: BehaviourApp) => {
      const errors: unknown[] = []
      let handled = 0
      const handler: RequestHandler = (req, res) => {
        handled++
        res.json({ remaining: req.rateLimit?.remaining ?? null })
      }
      const app = express()
      if (spec.trustProxy) app.set('trust proxy', 'loopback')
      const early = spec.earlyHeaders
      if (early !== undefined) {
        app.use((_req, res, next) => {
          res.set(early)
          next()
        })
      }
      // Routes with their own limiter, or none, answer before the app-wide limiter.
      const special = express.Router()
      for (const route of spec.routes ?? []) {
        if (route.rateLimit === false) special.get(route.path, handler)
        else special.get(route.path, rateLimit(route.rateLimit as RateLimitOptions), handler)
      }
      app.use(special)
      const main = express.Router()
      if (spec.global !== undefined) {
        const limiter = rateLimit(spec.global as RateLimitOptions)
        app.use(limiter)
        if (spec.mountTwice === true) main.use(limiter)
        else if (spec.mountTwice) main.use(rateLimit(spec.mountTwice as RateLimitOptions))
      }
      main.get('/', handler)
      app.use(main)
      const onError: ErrorRequestHandler = (error, _req, res, _next) => {
        errors.push(error)
        res.status((error as { status?: number }).status ?? 500).send(String((error as Error).message))
      }
      app.use(onError)
      const server = app.listen(0, '127.0.0.1')
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

runAdapterBehaviour(driver('express 5', express5))
runAdapterBehaviour(driver('express 4', express4 as unknown as ExpressFactory))
runAdapterTraces([driver('express 5', express5), driver('express 4', express4 as unknown as ExpressFactory)])
