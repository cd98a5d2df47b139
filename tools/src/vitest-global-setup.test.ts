import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it, vi } from 'vitest'
import type { TestProject } from 'vitest/node'
import { findFreePort } from './free-port.js'
import { isProcessAlive } from './guarded-process.js'
import { startRedisServer } from './redis-server.js'
import { sendRespCommand } from './resp-command.js'
import setup from './vitest-global-setup.js'
import { describeRedisServer } from './vitest-redis.js'

// setup() only calls project.provide(); a recorder stands in for vitest's TestProject.
function recordingProject() {
  const provided: Record<string, unknown> = {}
  const project = {
    provide(key: string, value: unknown) {
      provided[key] = value
    },
  }
  return { provided, project: project as unknown as TestProject }
}

describeRedisServer('the vitest global setup', () => {
  const savedEnv = { ...process.env }
  let emptyDir: string
  beforeEach(async () => {
    emptyDir = await mkdtemp(join(tmpdir(), 'floodgate-empty-path-'))
    delete process.env.REDIS_URL
    delete process.env.CI
  })
  afterEach(async () => {
    process.env = { ...savedEnv }
    vi.restoreAllMocks()
    await rm(emptyDir, { recursive: true, force: true })
  })

  it('starts a private redis-server when REDIS_URL is unset, and stops it at teardown', async () => {
    const { provided, project } = recordingProject()
    const teardown = await setup(project)
    const url = new URL(String(provided.redisUrl))
    expect(provided.redisServerAvailable).toBe(true)
    expect(url.port).not.toBe('6379')
    const info = String(await sendRespCommand(url.hostname, Number(url.port), ['INFO', 'server']))
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1])
    expect(isProcessAlive(pid)).toBe(true)
    await teardown()
    expect(isProcessAlive(pid)).toBe(false)
  })

  it('uses REDIS_URL when set, and starts nothing', async () => {
    const server = await startRedisServer()
    try {
      process.env.REDIS_URL = server.url
      const { provided, project } = recordingProject()
      await (await setup(project))()
      expect(provided.redisUrl).toBe(server.url)
      expect(isProcessAlive(server.pid)).toBe(true)
    } finally {
      await server.stop()
    }
  })

  it('fails when REDIS_URL does not answer', async () => {
    process.env.REDIS_URL = `redis://127.0.0.1:${await findFreePort()}`
    await expect(setup(recordingProject().project)).rejects.toThrow(/does not answer PING/)
  })

  it('without any Redis, provides no URL and says loudly that Redis tests are skipped', async () => {
    process.env.PATH = emptyDir
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const { provided, project } = recordingProject()
    await setup(project)
    expect(provided).toEqual({ redisServerAvailable: false, redisUrl: undefined })
    expect(warn).toHaveBeenCalledOnce()
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/NO REDIS.*SKIPPED/)
  })

  it('without any Redis under CI=true, fails the run', async () => {
    process.env.PATH = emptyDir
    process.env.CI = 'true'
    await expect(setup(recordingProject().project)).rejects.toThrow(/CI=true but there is no Redis/)
  })
})
