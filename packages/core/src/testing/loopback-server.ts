import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A server listening on a free loopback port, for an adapter's HTTP tests. */
export interface LoopbackServer {
  /** `http://127.0.0.1:<port>`, with no trailing slash. */
  readonly base: string
  /** Drops every open connection and closes the server. */
  close(): Promise<void>
}

/**
 * Starts `server` (an app's `http.Server`, not yet listening) on 127.0.0.1 and a free port, and
 * resolves once it listens. Pair it with `close()` in a `finally`.
 */
export async function serveOnLoopback(server: Server): Promise<LoopbackServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
