import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { FORBIDDEN_PORTS, isPortFree } from './free-port.js'
import { isProcessAlive } from './guarded-process.js'
import { type RedisServer, startRedisServer } from './redis-server.js'
import { sendRespCommand } from './resp-command.js'
import { describeRedisServer } from './vitest-redis.js'

describeRedisServer('startRedisServer', () => {
  let server: RedisServer
  beforeAll(async () => {
    server = await startRedisServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('listens on a free loopback port, never the shared 6379', () => {
    expect(server.host).toBe('127.0.0.1')
    expect(FORBIDDEN_PORTS.has(server.port)).toBe(false)
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`)
  })

  it('answers commands and is the process it reports', async () => {
    const redis = new Redis(server.url)
    try {
      expect(await redis.ping()).toBe('PONG')
      const info = await redis.info('server')
      expect(info).toContain(`process_id:${server.pid}\r\n`)
    } finally {
      redis.disconnect()
    }
  })

  it('runs without persistence', async () => {
    const save = await sendRespCommand(server.host, server.port, ['CONFIG', 'GET', 'save'])
    const appendonly = await sendRespCommand(server.host, server.port, ['CONFIG', 'GET', 'appendonly'])
    expect(save).toEqual(['save', ''])
    expect(appendonly).toEqual(['appendonly', 'no'])
  })

  it('restart() comes back on the same port, empty, as a new process', async () => {
    await sendRespCommand(server.host, server.port, ['SET', 'survives', 'no'])
    const { port, pid } = server
    await server.restart()
    expect(server.port).toBe(port)
    expect(server.pid).not.toBe(pid)
    expect(isProcessAlive(pid)).toBe(false)
    expect(await sendRespCommand(server.host, server.port, ['GET', 'survives'])).toBeNull()
    expect(await sendRespCommand(server.host, server.port, ['DBSIZE'])).toBe(0)
  })
})

describeRedisServer('stopping a redis-server', () => {
  it('ends its process and frees its port; stopping twice is harmless', async () => {
    const server = await startRedisServer()
    const { pid, port } = server
    expect(isProcessAlive(pid)).toBe(true)
    await server.stop()
    expect(isProcessAlive(pid)).toBe(false)
    expect(await isPortFree(port)).toBe(true)
    await server.stop()
  })

  it('passes extra arguments to redis-server', async () => {
    const server = await startRedisServer({ args: ['--maxmemory', '12mb'] })
    try {
      const reply = await sendRespCommand(server.host, server.port, ['CONFIG', 'GET', 'maxmemory'])
      expect(reply).toEqual(['maxmemory', String(12 * 1024 * 1024)])
    } finally {
      await server.stop()
    }
  })

  it('refuses the shared Redis port', async () => {
    await expect(startRedisServer({ port: 6379 })).rejects.toThrow(/6379/)
  })
})
