import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Redis } from 'ioredis'
import { ShebangScripts } from './lua-shebang.js'
import { encodeReply } from './upstash-encoding.js'

const MAX_BODY_BYTES = 16 * 1024 * 1024
/**
 * How long an idle keep-alive connection stays open (advertised as `Keep-Alive: timeout=60`).
 * Node's default, 5 s, lets the server close a connection a client has just sent a request on:
 * the request arrives while the server's event loop is held up past the 5 s (a loaded machine),
 * its idle timer fires first, and the close with the request unread resets the connection
 * (`fetch failed`, caused by `read ECONNRESET`; the client cannot retry a POST). A hosted
 * endpoint sits behind load balancers that keep idle connections a minute or more, so there the
 * client, which follows the hint with a margin (undici: 2 s), closes an idle connection first.
 */
const KEEP_ALIVE_TIMEOUT_MS = 60_000

// These would change the state of the one shared connection, or block it, for every other request.
const UNSUPPORTED = new Set([
  'MULTI',
  'EXEC',
  'DISCARD',
  'WATCH',
  'UNWATCH',
  'SELECT',
  'QUIT',
  'RESET',
  'MONITOR',
])
const UNSUPPORTED_PREFIXES = ['SUBSCRIBE', 'PSUBSCRIBE', 'SSUBSCRIBE', 'BLPOP', 'BRPOP', 'BLMOVE', 'BZPOP']

export interface StartUpstashServerOptions {
  /** The Redis every command is forwarded to, e.g. a server from `startRedisServer()`. */
  redisUrl: string
  /** Bearer token clients must send; a random one by default. */
  token?: string
  /** Port to listen on (loopback); a free one by default. */
  port?: number
  /** Answer 503 when Redis has not replied within this time; no limit by default. */
  commandTimeoutMs?: number
}

/** A local server speaking the Upstash Redis REST protocol, forwarding to a real Redis. */
export interface UpstashServer {
  /** `http://127.0.0.1:<port>`: use as `UPSTASH_REDIS_REST_URL`. */
  readonly url: string
  /** Use as `UPSTASH_REDIS_REST_TOKEN`. */
  readonly token: string
  /** HTTP requests received (any path, any outcome) and Redis commands forwarded. */
  readonly stats: { requests: number; commands: number }
  /** Closes the HTTP server, open keep-alive connections included, and the Redis connection. */
  stop(): Promise<void>
}

type Entry = { result: unknown } | { error: string }

export async function startUpstashServer(options: StartUpstashServerOptions): Promise<UpstashServer> {
  const token = options.token ?? randomBytes(16).toString('hex')
  const redis = new Redis(options.redisUrl, {
    lazyConnect: true,
    // Fail at once while Redis is away (an HTTP error the client sees), never queue, never
    // re-send a command that may already have run.
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(attempt * 50, 500),
  })
  redis.on('error', () => {}) // Connection errors surface on the commands; reconnects are automatic.
  await redis.connect()
  // The commands' deadline, from now on: given to the constructor it also bounded connect()'s ready
  // check (INFO), and on a loaded machine a 100 ms deadline made the server fail to start
  // ("Connection is closed.").
  if (options.commandTimeoutMs !== undefined) redis.options.commandTimeout = options.commandTimeoutMs
  const scripts = new ShebangScripts()
  const stats = { requests: 0, commands: 0 }

  const run = async (command: string[]): Promise<unknown> => {
    const rewritten = scripts.rewrite(command)
    stats.commands++
    const [name = '', ...args] = rewritten.command
    const reply = await redis.callBuffer(name, ...args)
    return rewritten.reply ? rewritten.reply(reply) : reply
  }

  const runPipeline = async (commands: string[][], atomic: boolean): Promise<Entry[]> => {
    const pipeline = atomic ? redis.multi() : redis.pipeline()
    const rewrites = commands.map((command) => scripts.rewrite(command))
    for (const { command } of rewrites) {
      const [name = '', ...args] = command
      pipeline.callBuffer(name, ...args)
    }
    stats.commands += commands.length
    const results = (await pipeline.exec()) ?? []
    // Lost connection: fail the whole request (503) like a single command, not command by command.
    const transportError = results.find(([error]) => error && error.name !== 'ReplyError')?.[0]
    if (transportError) throw transportError
    return results.map(([error, reply], index) =>
      error ? { error: error.message } : { result: rewrites[index]?.reply?.(reply) ?? reply },
    )
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    stats.requests++
    if (req.headers.authorization !== `Bearer ${token}`) return reply(res, 401, { error: 'Unauthorized' })
    if (req.method !== 'POST') return reply(res, 405, { error: `ERR method ${req.method} not supported` })
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '') || '/'
    const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64'
    let body: unknown
    try {
      body = JSON.parse(await readBody(req))
    } catch (error) {
      return reply(res, 400, { error: `ERR failed to parse request body: ${(error as Error).message}` })
    }
    try {
      if (path === '/') {
        const command = parseCommand(body)
        return reply(res, 200, { result: encodeReply(await run(command), base64) })
      }
      if (path === '/pipeline' || path === '/multi-exec') {
        if (!Array.isArray(body) || body.length === 0)
          throw new RequestError('ERR expected a non-empty array of commands')
        const entries = await runPipeline(body.map(parseCommand), path === '/multi-exec')
        return reply(
          res,
          200,
          entries.map((entry) => ('error' in entry ? entry : { result: encodeReply(entry.result, base64) })),
        )
      }
      return reply(res, 404, { error: `ERR unknown path ${path}` })
    } catch (error) {
      // A Redis error reply is the client's problem (400, as Upstash answers); anything else,
      // Redis unreachable included, is the server's (503).
      const status = error instanceof RequestError || (error as Error).name === 'ReplyError' ? 400 : 503
      return reply(res, status, { error: (error as Error).message })
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) reply(res, 500, { error: String(error) })
      else res.destroy()
    })
  })
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port: options.port ?? 0 }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo

  let stopped: Promise<void> | undefined
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    stats,
    stop() {
      stopped ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        server.closeAllConnections()
        await closed
        redis.disconnect()
      })()
      return stopped
    },
  }
}

class RequestError extends Error {}

function parseCommand(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new RequestError('ERR a command must be a non-empty JSON array')
  }
  const command = value.map((part) => (typeof part === 'string' ? part : JSON.stringify(part)))
  const name = command[0]?.toUpperCase() ?? ''
  if (UNSUPPORTED.has(name) || UNSUPPORTED_PREFIXES.some((prefix) => name.startsWith(prefix))) {
    throw new RequestError(`ERR ${name} is not supported by this REST server`)
  }
  return command
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`body larger than ${MAX_BODY_BYTES} bytes`))
        req.destroy()
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) })
  res.end(json)
}
