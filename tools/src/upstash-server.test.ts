import { Redis as UpstashRedis } from '@upstash/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sha1Hex } from './lua-shebang.js'
import { type RedisServer, startRedisServer } from './redis-server.js'
import { sendRespCommand } from './resp-command.js'
import { startUpstashServer, type UpstashServer } from './upstash-server.js'
import { describeRedisServer } from './vitest-redis.js'

const SHEBANG_SCRIPT = '#!lua flags=allow-key-locking\nreturn redis.call("INCRBY", KEYS[1], ARGV[1])'

describeRedisServer('startUpstashServer', () => {
  let redisServer: RedisServer
  let upstash: UpstashServer
  beforeAll(async () => {
    redisServer = await startRedisServer()
    upstash = await startUpstashServer({ redisUrl: redisServer.url })
  })
  afterAll(async () => {
    await upstash?.stop()
    await redisServer?.stop()
  })

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${upstash.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${upstash.token}`, ...headers },
      body: JSON.stringify(body),
    })

  describe.each([
    { encoding: 'base64' as const, label: 'base64 response encoding' },
    { encoding: false as const, label: 'plain response encoding' },
  ])('with the real @upstash/redis client, $label', ({ encoding }) => {
    let client: UpstashRedis
    const key = (name: string) => `tools-test:${encoding}:${name}`
    beforeAll(() => {
      client = new UpstashRedis({
        url: upstash.url,
        token: upstash.token,
        responseEncoding: encoding,
        enableAutoPipelining: false,
        retry: false,
      })
    })

    it('sets and gets strings, non-ASCII text included, and answers null for a missing key', async () => {
      expect(await client.set(key('text'), 'héllo ✓ 🌊')).toBe('OK')
      expect(await client.get(key('text'))).toBe('héllo ✓ 🌊')
      expect(await client.get(key('missing'))).toBeNull()
    })

    it('increments counters as integers', async () => {
      expect(await client.incr(key('counter'))).toBe(1)
      expect(await client.incrby(key('counter'), 41)).toBe(42)
    })

    it('evaluates scripts returning nested tables of strings and integers', async () => {
      const script = 'return { KEYS[1], tonumber(ARGV[1]) * 2, { "inner", 7 } }'
      expect(await client.eval(script, [key('eval')], ['21'])).toEqual([key('eval'), 42, ['inner', 7]])
    })

    it('runs EVALSHA of a loaded script, and reports NOSCRIPT for an unknown hash', async () => {
      const script = 'return redis.call("INCRBY", KEYS[1], ARGV[1])'
      const sha = await client.scriptLoad(script)
      expect(sha).toBe(sha1Hex(script))
      expect(await client.evalsha(sha, [key('evalsha')], ['5'])).toBe(5)
      await expect(client.evalsha('0'.repeat(40), [], [])).rejects.toThrow(/NOSCRIPT/)
    })

    it('runs a pipeline and returns each result in order', async () => {
      const results = await client.pipeline().set(key('p'), 'v').incr(key('pn')).get(key('p')).exec()
      expect(results).toEqual(['OK', 1, 'v'])
    })

    it('runs a multi-exec transaction and reports a failing command in place', async () => {
      expect(await client.multi().set(key('m'), 'x').get(key('m')).exec()).toEqual(['OK', 'x'])
      const results = await client.multi().set(key('m2'), 'text').incr(key('m2')).exec({ keepErrors: true })
      expect(results[0]).toEqual({ error: undefined, result: 'OK' })
      expect(results[1]?.error).toMatch(/not an integer/)
    })

    it('surfaces a Redis error reply as an error', async () => {
      await client.set(key('not-a-number'), 'abc')
      await expect(client.incr(key('not-a-number'))).rejects.toThrow(/not an integer/)
    })

    it('runs a #!lua shebang script by EVAL, then by EVALSHA of its original hash', async () => {
      expect(await client.eval(SHEBANG_SCRIPT, [key('shebang')], ['2'])).toBe(2)
      expect(await client.evalsha(sha1Hex(SHEBANG_SCRIPT), [key('shebang')], ['3'])).toBe(5)
    })
  })

  describe('wire format', () => {
    it('base64-encodes every string of a nested result, leaving integers and nulls as they are', async () => {
      const script = 'return { "a", 1, false, { "bé" } }'
      const response = await post('/', ['EVAL', script, '0'], { 'Upstash-Encoding': 'base64' })
      expect(response.status).toBe(200)
      const b64 = (text: string) => Buffer.from(text).toString('base64')
      expect(await response.json()).toEqual({ result: [b64('a'), 1, null, [b64('bé')]] })
    })

    it('answers plain JSON when no encoding is asked for', async () => {
      await post('/', ['SET', 'tools-test:wire', 'plain'])
      const response = await post('/', ['GET', 'tools-test:wire'])
      expect(await response.json()).toEqual({ result: 'plain' })
    })

    it('answers a pipeline with one result or error per command', async () => {
      const response = await post('/pipeline', [
        ['SET', 'tools-test:wire-p', 'x'],
        ['INCR', 'tools-test:wire-p'],
        ['GET', 'tools-test:wire-p'],
      ])
      const body = (await response.json()) as { result?: unknown; error?: string }[]
      expect(body[0]).toEqual({ result: 'OK' })
      expect(body[1]?.error).toMatch(/not an integer/)
      expect(body[2]).toEqual({ result: 'x' })
    })

    it('accepts numbers as command arguments', async () => {
      const response = await post('/', ['INCRBY', 'tools-test:wire-n', 7])
      expect(await response.json()).toEqual({ result: 7 })
    })

    it('answers SCRIPT LOAD of a shebang script with the hash of the text sent', async () => {
      const response = await post('/', ['SCRIPT', 'LOAD', SHEBANG_SCRIPT])
      expect(await response.json()).toEqual({ result: sha1Hex(SHEBANG_SCRIPT) })
      const exists = await post('/', ['SCRIPT', 'EXISTS', sha1Hex(SHEBANG_SCRIPT)])
      expect(await exists.json()).toEqual({ result: [1] })
    })

    it('rejects a wrong or missing token with 401 and forwards nothing', async () => {
      const dbsizeBefore = await sendRespCommand(redisServer.host, redisServer.port, ['DBSIZE'])
      const wrong = await post('/', ['SET', 'tools-test:unauthorized', '1'], { authorization: 'Bearer nope' })
      expect(wrong.status).toBe(401)
      const missing = await fetch(upstash.url, { method: 'POST', body: JSON.stringify(['PING']) })
      expect(missing.status).toBe(401)
      expect(await sendRespCommand(redisServer.host, redisServer.port, ['DBSIZE'])).toBe(dbsizeBefore)
      const client = new UpstashRedis({ url: upstash.url, token: 'nope', retry: false })
      await expect(client.get('anything')).rejects.toThrow(/Unauthorized/)
    })

    it('serves concurrent single, pipeline and multi-exec requests on its one connection without mixing replies', async () => {
      const key = 'tools-test:concurrent'
      const requests = Array.from({ length: 60 }, (_, i) => {
        if (i % 3 === 0) return post('/', ['INCR', key])
        if (i % 3 === 1)
          return post('/pipeline', [
            ['INCR', key],
            ['INCR', key],
          ])
        return post('/multi-exec', [
          ['INCR', key],
          ['INCR', key],
          ['INCR', key],
        ])
      })
      const bodies = await Promise.all(requests.map(async (response) => (await response).json()))
      const transactions = bodies.filter((_, i) => i % 3 === 2) as { result: number }[][]
      for (const [a, b, c] of transactions)
        expect([b?.result, c?.result]).toEqual([a!.result + 1, a!.result + 2])
      const finalCount = await sendRespCommand(redisServer.host, redisServer.port, ['GET', key])
      expect(finalCount).toBe(String(20 * 1 + 20 * 2 + 20 * 3))
    })

    it('advertises a 60 s keep-alive, so the client, not the server, closes an idle connection', async () => {
      // Under Node's default, 5 s, a server held up past it reset connections requests were already
      // on: `fetch failed` (read ECONNRESET) under load, in multi-process.test.ts.
      const response = await post('/', ['PING'])
      expect(await response.json()).toEqual({ result: 'PONG' })
      expect(response.headers.get('keep-alive')).toBe('timeout=60')
    })

    it('rejects a body that is not a command array with 400', async () => {
      expect((await post('/', { not: 'a command' })).status).toBe(400)
      expect((await post('/pipeline', [])).status).toBe(400)
    })

    it('counts every HTTP request; concurrent auto-pipelined commands share one per kind', async () => {
      // @upstash/redis batches reads and writes into separate pipelines.
      const client = new UpstashRedis({ url: upstash.url, token: upstash.token, retry: false })
      const before = upstash.stats.requests
      await Promise.all([client.get('tools-test:a'), client.get('tools-test:b'), client.get('tools-test:c')])
      expect(upstash.stats.requests - before).toBe(1)
      await Promise.all([client.incr('tools-test:d'), client.incr('tools-test:e')])
      expect(upstash.stats.requests - before).toBe(2)
      await post('/', ['PING'])
      expect(upstash.stats.requests - before).toBe(3)
    })
  })
})
