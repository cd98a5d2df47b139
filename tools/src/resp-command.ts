import { connect } from 'node:net'

/** A decoded RESP2 reply: simple and bulk strings as strings, integers as numbers, errors as Error. */
export type RespReply = string | number | null | Error | RespReply[]

/**
 * Sends one command over a fresh connection and resolves with its reply. A dependency-free
 * probe for readiness checks (PING, CLUSTER INFO): no client library, no reconnect loop, no
 * offline queue, so a dead server fails fast and a hung one fails at `timeoutMs`.
 */
export function sendRespCommand(
  host: string,
  port: number,
  args: readonly string[],
  timeoutMs = 2_000,
): Promise<RespReply> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port })
    let buffered = Buffer.alloc(0)
    const timer = setTimeout(
      () => finish(new Error(`${args[0]} to ${host}:${port} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    )
    const finish = (error: Error | undefined, reply?: RespReply) => {
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve(reply ?? null)
    }
    socket.once('error', (error) => finish(error))
    socket.once('close', () => finish(new Error(`${host}:${port} closed the connection before replying`)))
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      const parsed = parseReply(buffered, 0)
      if (parsed) finish(undefined, parsed.value)
    })
    socket.write(encodeCommand(args))
  })
}

export function encodeCommand(args: readonly string[]): Buffer {
  const parts = [`*${args.length}\r\n`]
  for (const arg of args) parts.push(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`)
  return Buffer.from(parts.join(''))
}

/** Parses one reply starting at `offset`; undefined when the buffer does not yet hold all of it. */
export function parseReply(buffer: Buffer, offset: number): { value: RespReply; next: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset)
  if (lineEnd === -1) return undefined
  const type = String.fromCharCode(buffer[offset] ?? 0)
  const line = buffer.toString('utf8', offset + 1, lineEnd)
  const afterLine = lineEnd + 2
  switch (type) {
    case '+':
      return { value: line, next: afterLine }
    case '-':
      return { value: new Error(line), next: afterLine }
    case ':':
      return { value: Number(line), next: afterLine }
    case '$': {
      const length = Number(line)
      if (length < 0) return { value: null, next: afterLine }
      if (buffer.length < afterLine + length + 2) return undefined
      return { value: buffer.toString('utf8', afterLine, afterLine + length), next: afterLine + length + 2 }
    }
    case '*': {
      const count = Number(line)
      if (count < 0) return { value: null, next: afterLine }
      const items: RespReply[] = []
      let next = afterLine
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, next)
        if (!item) return undefined
        items.push(item.value)
        next = item.next
      }
      return { value: items, next }
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`)
  }
}
