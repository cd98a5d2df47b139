import type { IncomingHttpHeaders } from 'node:http'
import { describe, it } from 'vitest'
import { RATE_LIMIT_HEADER_NAMES } from '../middleware/header-writer.js'
import { adapterCases } from './adapter-cases.js'
import { adapterIpCases } from './adapter-ip-cases.js'

/**
 * What every framework hands to callbacks has `headers`: Express `req`, Koa `ctx`, Fastify
 * `request`. The shared table writes its callbacks against this shape only.
 */
export interface RequestWithHeaders {
  /** The request headers, as Node parses them. */
  headers: IncomingHttpHeaders
}

/** Middleware options as the table writes them; each driver passes them to its adapter as they are. */
export type BehaviourOptions = Record<string, unknown>

/** One app a driver builds. Every route answers 200 with JSON `{ remaining }` from the exposed decision. */
export interface BehaviourApp {
  /** Options of the app-wide limiter (Express/Koa `app.use`, Fastify plugin); none when undefined. */
  global?: BehaviourOptions
  /**
   * Routes beside `/`: with their own limiter (Express router, Koa router, Fastify route config)
   * replacing the app-wide one, or `false` to leave the route unlimited.
   */
  routes?: {
    /** The route's path, e.g. `/own`. */
    path: string
    /** The route's own middleware options, or false for no limit. */
    rateLimit: BehaviourOptions | false
  }[]
  /**
   * Mount the app-wide limiter a second time in front of `/` (Express/Koa: the same middleware on
   * a router; Fastify: the plugin registered again in a child context with the same options). Given
   * options instead of `true`, the second mount is a middleware of its own built from them (with the
   * same `limiter`, it counts into the same counters).
   */
  mountTwice?: boolean | BehaviourOptions
  /** Trust a proxy on the loopback interface (X-Forwarded-For). Default false. */
  trustProxy?: boolean
  /**
   * Response headers the app sets on every request before any limiter runs (Express/Koa: a first
   * middleware; Fastify: an `onRequest` hook added before the plugin).
   */
  earlyHeaders?: Record<string, string>
}

/** One HTTP answer as the table reads it. */
export interface BehaviourResponse {
  /** The status code. */
  status: number
  /** The response headers. */
  headers: Headers
  /** The body as text. */
  body: string
}

/** A running app built by a driver. */
export interface BehaviourServer {
  /** Sends GET `path` (over loopback HTTP, or Fastify's inject). */
  get(path: string, headers?: Record<string, string>): Promise<BehaviourResponse>
  /** Every error that reached the framework's error path, in order. */
  readonly errors: unknown[]
  /** How many times a route handler ran. */
  readonly handled: () => number
  /** Stops the app and closes its limiters. */
  close(): Promise<void>
}

/** What each adapter's test file provides: a few lines per framework version. */
export interface AdapterDriver {
  /** Shown in test names, e.g. `"express 4"`. */
  name: string
  /** Builds and starts the app; rejects when the adapter rejects its options. */
  start(app: BehaviourApp): Promise<BehaviourServer>
  /** An `onLimited` answering `status` with a text body, in the framework's own way. */
  answerLimited(status: number, text: string): unknown
}

/**
 * Runs the behaviour table shared by the Express, Koa and Fastify adapters against one driver:
 * the same requests must get the same statuses, headers and bodies on every framework.
 *
 * ```ts
 * runAdapterBehaviour({ name: 'express 5', start: (app) => startExpress(express5, app), answerLimited })
 * ```
 */
export function runAdapterBehaviour(driver: AdapterDriver): void {
  describe(`${driver.name} adapter behaviour`, () => {
    for (const [group, cases] of Object.entries({ ...adapterCases(), ...adapterIpCases() })) {
      describe(group, () => {
        for (const c of cases) it(c.name, () => c.run(driver))
      })
    }
  })
}

/** One row of the table. */
export interface AdapterCase {
  /** The behaviour, as a test name. */
  name: string
  /** Runs the case against one adapter; throws when the adapter misbehaves. */
  run(driver: AdapterDriver): Promise<void>
}

/** Starts the app, runs `body`, and always closes the server. */
export async function withServer(
  driver: AdapterDriver,
  app: BehaviourApp,
  body: (server: BehaviourServer) => Promise<void>,
): Promise<void> {
  const server = await driver.start(app)
  try {
    await body(server)
  } finally {
    await server.close()
  }
}

/** The header names Floodgate may write; none of them may appear on a skipped request. */
export { RATE_LIMIT_HEADER_NAMES }

/** The rate-limit headers a response carries, lower-cased. */
export function rateLimitHeadersOf(response: BehaviourResponse): Record<string, string> {
  const found: Record<string, string> = {}
  for (const name of RATE_LIMIT_HEADER_NAMES) {
    const value = response.headers.get(name)
    if (value !== null) found[name] = value
  }
  return found
}
