import { EventEmitter } from 'node:events'
import { createServer, type Socket } from 'node:net'
import { describeRedis, describeRedisServer, startRedisServer } from '@floodgate/tools'
import { Redis } from 'ioredis'
import { describe, expect, it, vi } from 'vitest'
import { logClientErrors, redacted, storeFromEnv } from './store-from-env.js'

describe('storeFromEnv', () => {
  it('uses the memory store when no store variable is set, or only empty ones', async () => {
    for (const env of [{}, { REDIS_URL: '', UPSTASH_REDIS_REST_URL: ' ', UPSTASH_REDIS_REST_TOKEN: '' }]) {
      const store = await storeFromEnv(env)
      expect(store.kind).toBe('memory')
      expect(store.store.name).toBe('memory')
      await store.close()
    }
  })

  it('prints a store URL without its credentials, those in the query included', () => {
    expect(redacted('redis://user:secret@127.0.0.1:6380/2?password=s3cr3t&username=u')).toBe(
      'redis://127.0.0.1:6380/2',
    )
    expect(redacted('https://eu1-fine-fox.upstash.io?token=abc')).toBe('https://eu1-fine-fox.upstash.io/')
    expect(redacted('not a url')).toBe('(unparseable URL)')
  })

  it('refuses half an Upstash configuration instead of silently using memory', async () => {
    await expect(storeFromEnv({ UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1' })).rejects.toThrow(
      /UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN/,
    )
    await expect(storeFromEnv({ UPSTASH_REDIS_REST_TOKEN: 'secret' })).rejects.toThrow(/found only one/)
  })

  it('gives up on an Upstash that takes the connection and never answers, after 2 s', async () => {
    const sockets: Socket[] = []
    const silent = createServer((socket) => void sockets.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const { port } = silent.address() as { port: number }
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const started = storeFromEnv({
        UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${port}`,
        UPSTASH_REDIS_REST_TOKEN: 'secret',
      })
      const outcome = expect(started).rejects.toThrow(/no answer within 2 s\. Unset both/)
      // Once the request has reached the server, 2 s of the start-up's clock.
      while (sockets.length === 0) await new Promise((resolve) => setImmediate(resolve))
      await vi.advanceTimersByTimeAsync(2_000)
      await outcome
    } finally {
      vi.useRealTimers()
      for (const socket of sockets) socket.destroy()
      silent.close()
    }
  })

  it('refuses to start on an Upstash it cannot reach, rather than run with every request unlimited', async () => {
    await expect(
      storeFromEnv({ UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1', UPSTASH_REDIS_REST_TOKEN: 'secret' }),
    ).rejects.toThrow(
      // At once, with the refusal itself: no retry (which could count a request twice) outlasts the check.
      /^Cannot reach Upstash at UPSTASH_REDIS_REST_URL \(http:\/\/127\.0\.0\.1:1\/?\) with UPSTASH_REDIS_REST_TOKEN: fetch failed\. Unset both/,
    )
  })

  it('says what is wrong with a URL no client takes, in its own message', async () => {
    await expect(storeFromEnv({ REDIS_URL: 'redis://127.0.0.1:notaport' })).rejects.toThrow(
      /^Cannot connect to the Redis at REDIS_URL \(\(unparseable URL\)\): .*Unset REDIS_URL/s,
    )
    await expect(
      storeFromEnv({ UPSTASH_REDIS_REST_URL: '127.0.0.1:8080', UPSTASH_REDIS_REST_TOKEN: 'secret' }),
    ).rejects.toThrow(
      /^UPSTASH_REDIS_REST_URL \(.*\) is not a URL the client takes: .*https:\/\/ \(http:\/\/ for a local server\)/s,
    )
  })

  it('says why a Redis cannot be reached in the error alone, logging nothing while it starts', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      await expect(storeFromEnv({ REDIS_URL: 'redis://127.0.0.1:1' })).rejects.toThrow(
        /^Cannot connect to the Redis at REDIS_URL \(redis:\/\/127\.0\.0\.1:1\/?\): .*ECONNREFUSED.*[^.]\. Unset REDIS_URL/,
      )
      expect(errors).not.toHaveBeenCalled()
    } finally {
      errors.mockRestore()
    }
  })

  it('logs each client error once until the client is ready again, however they alternate', () => {
    const client = new EventEmitter()
    const lines: string[] = []
    const lastError = logClientErrors(client, (line) => lines.push(line))
    // A Redis that takes connections and answers nothing: one pair per reconnect attempt.
    for (let attempt = 0; attempt < 5; attempt++) {
      client.emit('error', new Error("Socket timeout. Expecting data, but didn't receive any in 220ms."))
      client.emit('error', new Error('Command timed out'))
    }
    expect(lines).toEqual([
      "redis: Socket timeout. Expecting data, but didn't receive any in 220ms.",
      'redis: Command timed out',
    ])
    expect(lastError()?.message).toBe('Command timed out')
    client.emit('ready')
    expect(lastError()).toBeUndefined()
    client.emit('error', new Error('Command timed out'))
    expect(lines).toHaveLength(3)
    expect(lines[2]).toBe('redis: Command timed out')
  })

  it('remembers at most 64 messages: past them, a message that repeats is logged each time', () => {
    const client = new EventEmitter()
    const lines: string[] = []
    logClientErrors(client, (line) => lines.push(line))
    for (let i = 0; i < 64; i++) client.emit('error', new Error(`error ${i}`))
    client.emit('error', new Error('error 0'))
    client.emit('error', new Error('error 63'))
    expect(lines).toHaveLength(64)
    client.emit('error', new Error('error 64'))
    client.emit('error', new Error('error 64'))
    expect(lines.slice(64)).toEqual(['redis: error 64', 'redis: error 64'])
  })
})

describeRedisServer('storeFromEnv on a Redis', () => {
  it("names the cause of a failed connection, which ioredis gives only as 'error' events", async () => {
    const locked = await startRedisServer()
    const admin = new Redis(locked.url)
    await admin.config('SET', 'requirepass', 'right')
    admin.disconnect()
    try {
      await expect(storeFromEnv({ REDIS_URL: `redis://:wrong@127.0.0.1:${locked.port}` })).rejects.toThrow(
        /^Cannot connect to the Redis at REDIS_URL \(redis:\/\/127\.0\.0\.1:\d+\/?\): WRONGPASS/,
      )
      // Redis's own message ends with a full stop: the sentence gets no second one.
      await expect(storeFromEnv({ REDIS_URL: `redis://:wrong@127.0.0.1:${locked.port}` })).rejects.toThrow(
        /[^.]\. Unset REDIS_URL to run on the memory store\.$/,
      )
      await expect(storeFromEnv({ REDIS_URL: `redis://127.0.0.1:${locked.port}` })).rejects.toThrow(
        /: NOAUTH/,
      )
      // The right password: the store line printed at start does not show it.
      const store = await storeFromEnv({ REDIS_URL: `redis://:right@127.0.0.1:${locked.port}` })
      expect(store.kind).toBe('redis')
      expect(store.description).toMatch(new RegExp(`^redis redis://127\\.0\\.0\\.1:${locked.port}/?$`))
      await store.close()
    } finally {
      await locked.stop()
    }
    // Nothing listens on the port of the server just stopped.
    await expect(storeFromEnv({ REDIS_URL: `redis://127.0.0.1:${locked.port}` })).rejects.toThrow(
      /ECONNREFUSED/,
    )
  })

  it('closes without an error while Redis is away', async () => {
    const server = await startRedisServer()
    const store = await storeFromEnv({ REDIS_URL: server.url })
    await server.stop()
    await expect(store.close()).resolves.toBeUndefined()
  })
})

describeRedis('storeFromEnv with REDIS_URL set', (redisUrl) => {
  /** The store `env` selects is the Redis at `redisUrl`, named without its password. */
  async function expectRedisChosen(env: Record<string, string>): Promise<void> {
    const store = await storeFromEnv(env)
    try {
      expect(store.kind).toBe('redis')
      expect(store.store.name).toBe('redis')
      expect(store.description).toBe(`redis ${redacted(redisUrl)}`)
    } finally {
      await store.close()
    }
  }

  it('takes REDIS_URL when the Upstash variables are set too', async () => {
    await expectRedisChosen({
      REDIS_URL: redisUrl,
      // Nothing listens here: choosing Upstash would fail the start.
      UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1',
      UPSTASH_REDIS_REST_TOKEN: 'secret',
    })
  })

  it('takes a REDIS_URL with spaces around it (a copied line in an .env file)', async () => {
    await expectRedisChosen({ REDIS_URL: ` ${redisUrl}\n` })
  })
})
