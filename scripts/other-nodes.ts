// Other Node.js majors: `pnpm test:nodes` (part of `pnpm test`, after the main run).
// The suite runs on the Node.js that runs pnpm (20 in CI). This runs a sample of the tests that
// exercise the runtime — the adapters over real sockets, the Redis and Upstash clients, timers,
// the examples — again on each later major still maintained. The binaries come from the npm registry's `node-<platform>-<arch>` packages (the
// registry is the only network the install needs), unpacked once under node_modules/.cache.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runCommand } from './consumer/run-command.js'

const root = fileURLToPath(new URL('..', import.meta.url))

/** The Node.js versions run besides the current one: the latest of 22, 24 and 26 when pinned. */
export const OTHER_NODE_VERSIONS = ['22.23.5', '24.22.3', '26.12.1'] as const

/**
 * The tests run again on each other Node.js (vitest filters: a path holding one of these): a
 * sample of those whose outcome the runtime decides — each framework's behaviour table and
 * transport edges over real sockets, the Redis and Upstash clients' answers and failures (sockets,
 * fetch), timers that must not keep a process alive, two module copies in one process, the examples
 * as users run them — small enough to keep CI's run short. The policies' arithmetic, the
 * conformance kit's copies per store, the long load, leak and hang runs, and the checks of the
 * repository itself (docs, release, bench) are the main run's.
 */
export const RUNTIME_TESTS = [
  // The adapters on real frameworks over real sockets.
  'packages/express/src/index.test.ts',
  'packages/koa/src/index.test.ts',
  'packages/fastify/src/index.test.ts',
  'packages/express/src/transport-edges.test.ts',
  'packages/koa/src/transport-edges.test.ts',
  'packages/fastify/src/transport-edges.test.ts',
  // The Redis and Upstash clients: answers, refused connections, delayed replies, outages.
  'packages/core/src/redis/redis-store.test.ts',
  'packages/core/src/redis/outage.test.ts',
  'packages/core/src/upstash/from-upstash.test.ts',
  'packages/core/src/reliability/redis-faults.test.ts',
  'packages/core/src/reliability/upstash-faults.test.ts',
  // Timers that must not keep a process alive; two copies of the package in one process.
  'packages/core/src/stores/memory-store-exit.test.ts',
  'packages/core/src/limiter-close.test.ts',
  'packages/core/src/two-copies.test.ts',
  // The examples as users run them, and the Upstash stand-in the Upstash tests talk to.
  'examples/',
  'tools/src/upstash-server.test.ts',
] as const

/** npm must not inherit pnpm's lifecycle settings (npm_config_*) when run from a pnpm script. */
export function npmEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(name) || /^npm_config_(registry|cache|userconfig)$/i.test(name)) env[name] = value
  }
  return env
}

/** The `node` binary of `version`, fetched from the npm registry on first use. */
export async function nodeBinary(version: string): Promise<string> {
  const platform = process.platform === 'win32' ? 'win' : process.platform
  const dir = join(root, 'node_modules', '.cache', 'floodgate-node', `${platform}-${process.arch}-${version}`)
  const binary = join(dir, 'bin', platform === 'win' ? 'node.exe' : 'node')
  if (!existsSync(binary)) {
    await mkdir(join(root, 'node_modules', '.cache', 'floodgate-node'), { recursive: true })
    const scratch = await mkdtemp(`${dir}.partial-`)
    try {
      await runCommand('npm', ['pack', `node-${platform}-${process.arch}@${version}`, '--silent'], {
        cwd: scratch,
        timeoutMs: 300_000,
        env: npmEnvironment(),
      })
      const tarball = (await readdir(scratch)).find((name) => name.endsWith('.tgz'))
      if (tarball === undefined)
        throw new Error(`npm pack node-${platform}-${process.arch}@${version} gave no tarball`)
      await runCommand('tar', ['-xzf', tarball], { cwd: scratch, timeoutMs: 120_000 })
      await rm(dir, { recursive: true, force: true })
      // Moved into place whole, so an interrupted fetch is never taken for a binary.
      await rename(join(scratch, 'package'), dir)
    } finally {
      await rm(scratch, { recursive: true, force: true })
    }
  }
  const reported = (await runCommand(binary, ['--version'], { cwd: root, timeoutMs: 30_000 })).trim()
  if (reported !== `v${version}`) throw new Error(`${binary} reports ${reported}, not v${version}`)
  return binary
}

/**
 * Tests left out of those files: the adapters' seeded traces (runAdapterTraces) check arithmetic and
 * header formats against a model, over the same sockets the behaviour table already uses.
 */
export const MAIN_RUN_ONLY_TESTS = '^(?!.*seeded traces against the model)'

/** Runs vitest on `node` (the runtime tests, or the arguments given); its output goes straight to ours. */
function runVitest(node: string, extraArgs: readonly string[]): Promise<void> {
  const selection = extraArgs.length > 0 ? extraArgs : [...RUNTIME_TESTS, '-t', MAIN_RUN_ONLY_TESTS]
  const args = [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...selection]
  return new Promise((resolve, reject) => {
    const child = spawn(node, args, { cwd: root, stdio: 'inherit' })
    child.on('error', reject)
    child.on('close', (code, signal) => {
      if (code === 0) resolve()
      else reject(new Error(`vitest on ${node} failed (${signal ?? `exit ${code}`})`))
    })
  })
}

async function main(): Promise<void> {
  // `pnpm test:nodes 24.22.3` runs one; vitest arguments after `--` replace the default selection.
  const dash = process.argv.indexOf('--')
  const given = process.argv.slice(2, dash === -1 ? undefined : dash)
  const extraArgs = dash === -1 ? [] : process.argv.slice(dash + 1)
  const versions = given.length > 0 ? given : [...OTHER_NODE_VERSIONS]
  for (const version of versions) {
    const startedAt = Date.now()
    console.log(`\n[other nodes] Node.js ${version}: fetching`)
    const node = await nodeBinary(version)
    console.log(`[other nodes] Node.js ${version}: vitest, the runtime tests (RUNTIME_TESTS)`)
    await runVitest(node, extraArgs)
    console.log(
      `[other nodes] Node.js ${version}: passed in ${((Date.now() - startedAt) / 1000).toFixed(0)} s`,
    )
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error)
    process.exitCode = 1
  })
}
