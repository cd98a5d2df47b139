import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { closeServer, defaultPort, isMain, running } from './running-example.js'
import { storeFromEnv } from './store-from-env.js'

describe('isMain', () => {
  const argv1 = process.argv[1]
  let dir: string | undefined
  afterEach(() => {
    process.argv[1] = argv1!
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it("knows the file node runs when it was started through a symlink (a deploy's `current` link)", () => {
    dir = mkdtempSync(join(tmpdir(), 'floodgate-ismain-'))
    const file = join(dir, 'server.ts')
    const link = join(dir, 'current')
    symlinkSync(dir, link)
    process.argv[1] = join(link, 'server.ts') // what the shell was given
    // Node loads the module from its real path, which import.meta.url then names.
    writeFileSync(file, '')
    expect(isMain(pathToFileURL(file).href)).toBe(true)
    expect(isMain(pathToFileURL(join(dir, 'other.ts')).href)).toBe(false)
  })
})

describe('defaultPort', () => {
  it('reads PORT, and takes an unset or empty one as the default 3000, not as port 0', () => {
    expect(defaultPort({ PORT: '8080' })).toBe(8080)
    expect(defaultPort({ PORT: '0' })).toBe(0)
    expect(defaultPort({})).toBe(3000)
    expect(defaultPort({ PORT: '' })).toBe(3000)
    expect(defaultPort({ PORT: '  ' })).toBe(3000)
    expect(defaultPort({ PORT: '70000' })).toBe(3000)
  })
})

describe('running', () => {
  it('names an IPv6 address in brackets in the URL, which then answers', async () => {
    const store = await storeFromEnv({})
    const server = createServer((_req, res) => res.end('ok')).listen(0, '::1')
    const app = await running(server, store, () => closeServer(server))
    try {
      expect(app.url).toBe(`http://[::1]:${app.port}`)
      expect(await (await fetch(app.url)).text()).toBe('ok')
    } finally {
      await app.close()
    }
  })

  it('rejects when the server cannot listen (a port in use), so the example says why and exits', async () => {
    const taken = createServer().listen(0, '127.0.0.1')
    await new Promise((resolve) => taken.once('listening', resolve))
    const store = await storeFromEnv({})
    const server = createServer().listen((taken.address() as AddressInfo).port, '127.0.0.1')
    try {
      await expect(running(server, store, () => closeServer(server))).rejects.toThrow(/EADDRINUSE/)
    } finally {
      await store.close()
      await closeServer(taken)
    }
  })

  it('closes the store after the app has shut down', async () => {
    const store = await storeFromEnv({})
    const order: string[] = []
    const server = createServer().listen(0, '127.0.0.1')
    const app = await running(
      server,
      {
        ...store,
        close: async () => {
          order.push('store')
          await store.close()
        },
      },
      async () => {
        await closeServer(server)
        order.push('app')
      },
    )
    await app.close()
    expect(order).toEqual(['app', 'store'])
  })
})

describe('serveUntilSignal, in an example run as a user runs it', () => {
  const ROOT = fileURLToPath(new URL('../..', import.meta.url))
  const ARGS = ['--conditions=@floodgate/source', '--import', 'tsx', 'examples/express/server.ts']
  /** The caller's environment without any store variable, plus `extra`. */
  const envWith = (extra: Record<string, string>) => {
    const env = { ...process.env, ...extra }
    for (const name of ['REDIS_URL', 'UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN']) {
      if (!(name in extra)) delete env[name]
    }
    return env
  }

  it('prints where it listens and its curl lines, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, ARGS, { cwd: ROOT, env: envWith({ PORT: '0' }) })
    let stdout = ''
    let stderr = ''
    child.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk) => {
        stdout += chunk
        // As soon as it says it listens: it must be closing on SIGTERM by then.
        if (stdout.includes('\n')) resolve()
      })
    })
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(stderr).toBe('')
    const url =
      /^Express example on (http:\/\/127\.0\.0\.1:\d+) \(store: memory \(this process only\)\)\n/.exec(
        stdout,
      )?.[1]
    expect(stdout).toBe(
      `Express example on ${url} (store: memory (this process only))\n  curl -i ${url}/api/hello\n  curl -i ${url}/health\n`,
    )
  }, 30_000)

  it('says in one line why it cannot start (a Redis it cannot reach), and exits 1', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: unknown; stdout: string; stderr: string }>(
      (resolve) => {
        execFile(
          process.execPath,
          ARGS,
          { cwd: ROOT, env: envWith({ PORT: '0', REDIS_URL: 'redis://127.0.0.1:1' }), timeout: 30_000 },
          (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stdout, stderr }),
        )
      },
    )
    expect(code).toBe(1)
    expect(stdout).toBe('')
    expect(stderr).toMatch(
      /^The Express example cannot start: Cannot connect to the Redis at REDIS_URL \(redis:\/\/127\.0\.0\.1:1\/?\): .*ECONNREFUSED.*\. Unset REDIS_URL to run on the memory store\.\n$/,
    )
  }, 30_000)
})
