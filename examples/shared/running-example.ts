import { realpathSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { EnvStore } from './store-from-env.js'

/** Options of every example's `start()`. */
export interface StartOptions {
  /** 0 picks a free port. Default: `PORT` or 3000. */
  port?: number
  /** Default 127.0.0.1: the examples are for trying out, not for exposing. */
  host?: string
  /** Where the store is chosen from (see store-from-env.ts). Default `process.env`. */
  env?: Record<string, string | undefined>
  /** Namespace of the counters in a shared store. */
  prefix?: string
}

/** An example app listening on a port. */
export interface RunningExample {
  /** Base URL, without a trailing slash: `http://127.0.0.1:3000`. */
  url: string
  port: number
  store: EnvStore
  /** Stops accepting requests, then closes the limiter and the store. */
  close(): Promise<void>
}

/** `PORT`, or 3000 when it is unset or empty (as the store variables are read), or not a port. */
export function defaultPort(env: Record<string, string | undefined> = process.env): number {
  const value = env.PORT?.trim()
  if (value === undefined || value === '') return 3000
  const port = Number(value)
  return Number.isInteger(port) && port >= 0 && port < 65_536 ? port : 3000
}

/** Closes an HTTP server: no new connections, idle keep-alive connections dropped. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()))
    server.closeIdleConnections()
  })
}

/**
 * Waits for `server` to listen and wraps it. `shutdown` stops the server and the limiter; the
 * store is closed after it.
 */
export async function running(
  server: Server,
  store: EnvStore,
  shutdown: () => Promise<void>,
): Promise<RunningExample> {
  if (!server.listening) {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve)
      server.once('error', reject)
    })
  }
  const { address, port } = server.address() as AddressInfo
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    port,
    store,
    async close() {
      await shutdown()
      await store.close()
    },
  }
}

/**
 * True when `moduleUrl` is the file node was asked to run. Compared by real path: node runs a file
 * reached through a symlink (macOS's /tmp, a deploy's `current` link) from its real path.
 */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1]
  if (entry === undefined) return false
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl))
  } catch {
    return false
  }
}

/**
 * Logs where the example listens and closes it on Ctrl-C or SIGTERM; or, when it cannot start (a
 * wrong REDIS_URL, say), says why in one line and exits 1.
 */
export function serveUntilSignal(
  name: string,
  starting: Promise<RunningExample>,
  routes: readonly Route[],
): void {
  starting.then(
    (app) => serve(name, app, routes),
    (error: unknown) => {
      console.error(
        `The ${name} example cannot start: ${error instanceof Error ? error.message : String(error)}`,
      )
      process.exit(1)
    },
  )
}

/** A route to show a curl line for: its path, and a header to send (`x-api-key: …`) if any. */
export type Route = string | { path: string; header: string }

function serve(name: string, app: RunningExample, routes: readonly Route[]): void {
  const stop = () => {
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error)
        process.exit(1)
      },
    )
  }
  // Before the first line: a SIGTERM sent as soon as it shows (a supervisor, a test) must close the
  // app, not kill the process with the default action.
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  console.log(`${name} example on ${app.url} (store: ${app.store.description})`)
  for (const route of routes) {
    if (typeof route === 'string') console.log(`  curl -i ${app.url}${route}`)
    else console.log(`  curl -i -H '${route.header}' ${app.url}${route.path}`)
  }
}
