import { createServer } from 'node:net'

/** The shared Redis of this machine lives here; the tooling must never start on or talk to it. */
export const FORBIDDEN_PORTS: ReadonlySet<number> = new Set([6379])

/**
 * A TCP port that was free on `host` a moment ago: bind port 0, read the port the kernel chose,
 * close. Another process may take it before the caller binds it, so callers retry on EADDRINUSE.
 */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await bindAndRelease(host, 0)
    if (!FORBIDDEN_PORTS.has(port)) return port
  }
  throw new Error(`findFreePort: no usable port on ${host} after 20 attempts`)
}

/** True when `port` can be bound on `host` right now. */
export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  try {
    await bindAndRelease(host, port)
    return true
  } catch {
    return false
  }
}

function bindAndRelease(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address()
      const chosen = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(chosen))
    })
  })
}
