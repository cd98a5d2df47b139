// Types for the two benchmark dependencies that ship none: only what the HTTP section calls.

declare module 'autocannon' {
  interface Options {
    url: string
    connections?: number
    /** Seconds. */
    duration?: number
    /** Sampling interval, ms. */
    sampleInt?: number
    /** Requests each connection sends in turn, cycling. */
    requests?: { path?: string; headers?: Record<string, string> }[]
  }
  interface Result {
    /** Seconds actually run. */
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    requests: { total: number; average: number }
    statusCodeStats: Record<string, { count: number }>
  }
  export default function autocannon(options: Options): Promise<Result>
}

declare module 'koa-ratelimit' {
  import type { Context, Middleware } from 'koa'

  interface MemoryOptions {
    driver: 'memory'
    db: Map<unknown, unknown>
    /** Window, ms. */
    duration: number
    max: number
    id: (ctx: Context) => string | false
  }
  export default function ratelimit(options: MemoryOptions): Middleware
}
