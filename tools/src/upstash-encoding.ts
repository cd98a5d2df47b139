/**
 * Turns an ioredis buffer-mode reply into the JSON the Upstash REST API answers with. With
 * `Upstash-Encoding: base64` every string is base64 (so binary values survive JSON), numbers and
 * nulls stay as they are, nested arrays are encoded recursively.
 */
export function encodeReply(reply: unknown, base64: boolean): unknown {
  if (reply === null || reply === undefined) return null
  if (typeof reply === 'number') return reply
  if (Buffer.isBuffer(reply)) return base64 ? reply.toString('base64') : reply.toString('utf8')
  if (typeof reply === 'string') return base64 ? Buffer.from(reply, 'utf8').toString('base64') : reply
  if (Array.isArray(reply)) return reply.map((item) => encodeReply(item, base64))
  // An error nested in an array reply (e.g. from a Lua table): Upstash has no per-element error
  // slot, so it travels as its message.
  if (reply instanceof Error) return encodeReply(reply.message, base64)
  if (typeof reply === 'bigint') return Number(reply)
  return encodeReply(String(reply), base64)
}
