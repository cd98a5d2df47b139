import type { AddressInfo } from 'node:net'
import { createServer, type Socket, connect as tcpConnect } from 'node:net'

/**
 * - `pass`: forward both ways.
 * - `refuse`: reset new connections at once (open ones are kept; see `dropConnections()`).
 * - `blackhole`: read everything, forward nothing, answer nothing (a partition). Connections that
 *   lost bytes this way are closed when the mode changes, since their request/reply stream is broken.
 * - `delay`: hold every reply for `delayMs`, order kept.
 */
export type FaultMode = 'pass' | 'refuse' | 'blackhole' | 'delay'

export interface StartFaultProxyOptions {
  target: { host: string; port: number }
  mode?: FaultMode
  /** Reply delay in `delay` mode; 100 ms by default. */
  delayMs?: number
}

/** A TCP proxy in front of Redis whose failure mode can be switched while clients use it. */
export interface FaultProxy {
  readonly host: string
  readonly port: number
  /** `redis://127.0.0.1:<port>`, for a Redis client. */
  readonly url: string
  readonly mode: FaultMode
  /** Connections accepted so far. */
  readonly stats: { connections: number }
  setMode(mode: FaultMode, options?: { delayMs?: number }): void
  /**
   * The next chunk of commands from any client reaches Redis, but its reply is lost and its
   * connection goes silent both ways: a reply lost with its connection. The client sees a timeout,
   * never a reply matched to the wrong command.
   */
  dropNextReply(): void
  /** Closes every open client connection (as a Redis restart would). */
  dropConnections(): void
  stop(): Promise<void>
}

interface Link {
  client: Socket
  upstream: Socket
  /** Lost bytes in blackhole mode: must be closed when the mode changes. */
  broken: boolean
  /** Silent after a dropped reply. */
  muted: boolean
  /** When the last delayed reply chunk is due, so later chunks keep their order. */
  lastDueMs: number
}

export async function startFaultProxy(options: StartFaultProxyOptions): Promise<FaultProxy> {
  let mode: FaultMode = options.mode ?? 'pass'
  let delayMs = options.delayMs ?? 100
  let dropArmed = false
  const links = new Set<Link>()
  const timers = new Set<NodeJS.Timeout>()
  const stats = { connections: 0 }

  const close = (link: Link) => {
    links.delete(link)
    link.client.destroy()
    link.upstream.destroy()
  }

  const server = createServer({ noDelay: true }, (client) => {
    stats.connections++
    if (mode === 'refuse') {
      client.resetAndDestroy()
      return
    }
    const upstream = tcpConnect({ host: options.target.host, port: options.target.port, noDelay: true })
    const link: Link = { client, upstream, broken: false, muted: false, lastDueMs: 0 }
    links.add(link)
    client.on('error', () => close(link))
    upstream.on('error', () => close(link))
    client.on('close', () => close(link))
    upstream.on('close', () => close(link))

    client.on('data', (chunk: Buffer) => {
      if (link.muted) return
      if (mode === 'blackhole') {
        link.broken = true
        return
      }
      if (dropArmed) {
        dropArmed = false
        link.muted = true
      }
      upstream.write(chunk) // Queued by node until the upstream connection is open.
    })

    upstream.on('data', (chunk: Buffer) => {
      if (link.muted) return
      if (mode === 'blackhole') {
        link.broken = true
        return
      }
      const nowMs = performance.now()
      const dueMs = Math.max(mode === 'delay' ? nowMs + delayMs : nowMs, link.lastDueMs)
      if (dueMs <= nowMs) {
        client.write(chunk)
        return
      }
      link.lastDueMs = dueMs
      // Node truncates a timer's delay to whole ms and measures it from the loop's cached time, so
      // a timer can fire a little before `dueMs`: wait again for what is left.
      const release = (): void => {
        const leftMs = dueMs - performance.now()
        if (leftMs > 0) {
          const timer = setTimeout(() => {
            timers.delete(timer)
            release()
          }, Math.ceil(leftMs))
          timers.add(timer)
          return
        }
        if (links.has(link) && !link.muted) client.write(chunk)
      }
      release()
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo

  let stopped: Promise<void> | undefined
  return {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    get mode() {
      return mode
    },
    stats,
    setMode(next, modeOptions) {
      if (modeOptions?.delayMs !== undefined) delayMs = modeOptions.delayMs
      if (mode === 'blackhole' && next !== 'blackhole') {
        for (const link of links) if (link.broken) close(link)
      }
      mode = next
    },
    dropNextReply() {
      dropArmed = true
    },
    dropConnections() {
      for (const link of links) close(link)
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer)
        timers.clear()
        for (const link of links) close(link)
        server.close(() => resolve())
      })
      return stopped
    },
  }
}
