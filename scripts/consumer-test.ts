// External consumer test: `pnpm test:consumer` (add `--no-build` when dist/ is fresh).
// Packs every published package, installs the tarballs with npm into a fresh app outside the
// workspace, and runs a real request through each framework from ESM, CJS and TypeScript
// (moduleResolution node16, compiled and run; bundler, type-checked; also with TypeScript 5.0 and
// 7.0), the JavaScript apps again on each later Node.js major (scripts/other-nodes.ts), then runs
// the README's per-framework snippets as pasted. Bounded, and it always removes its temporary directory.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ADAPTERS, type Adapter, appSource } from './consumer/apps.js'
import { runReadmeSnippets } from './consumer/readme-snippets.js'
import { runCommand } from './consumer/run-command.js'
import { nodeBinary, npmEnvironment, OTHER_NODE_VERSIONS } from './other-nodes.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const startedAt = Date.now()
/**
 * The whole run must end well within CI's patience: 5 minutes including the build (about 50 s
 * without it on an idle machine of CI's size, 145 s on one loaded by other jobs).
 */
const DEADLINE_MS = 300_000

function remainingMs(capMs: number): number {
  const left = DEADLINE_MS - (Date.now() - startedAt)
  if (left <= 1_000) throw new Error(`consumer test: out of time after ${Date.now() - startedAt} ms`)
  return Math.min(capMs, left)
}

function step(message: string): void {
  console.log(`[consumer ${((Date.now() - startedAt) / 1000).toFixed(1)} s] ${message}`)
}

async function packageJson(path: string): Promise<Record<string, Record<string, string>>> {
  return JSON.parse(await readFile(join(root, path, 'package.json'), 'utf8'))
}

/** The framework and type packages at the versions the workspace tests, so npm's cache is reused. */
async function thirdPartyDependencies(adapters: readonly Adapter[]): Promise<string[]> {
  const workspace = await packageJson('.')
  const wanted = [`@types/node@${workspace.devDependencies!['@types/node']}`]
  for (const adapter of adapters) {
    const dev = (await packageJson(`packages/${adapter}`)).devDependencies ?? {}
    for (const name of [adapter, `@types/${adapter}`]) if (dev[name]) wanted.push(`${name}@${dev[name]}`)
  }
  return wanted
}

/**
 * The older majors the adapters support (Express 4, Koa 2, Fastify 4), at the versions of the
 * workspace's aliases (`express4`, `koa2`, `fastify4`), with the typings their users install.
 */
async function olderMajors(adapters: readonly Adapter[]): Promise<string[]> {
  const workspace = await packageJson('.')
  const wanted = [`@types/node@${workspace.devDependencies!['@types/node']}`]
  // The framework, and for Express and Koa its typings (Fastify ships its own): the same aliases
  // the adapters' type tests compile against (packages/*/{express4,koa2}/tsconfig.json).
  const aliases: Record<Adapter, string[]> = {
    express: ['express4', '@types/express4'],
    koa: ['koa2', '@types/koa2'],
    fastify: ['fastify4'],
  }
  for (const adapter of adapters) {
    const devDependencies = (await packageJson(`packages/${adapter}`)).devDependencies ?? {}
    for (const name of aliases[adapter]) {
      const alias = devDependencies[name]
      if (alias === undefined) throw new Error(`packages/${adapter} has no ${name} alias`)
      wanted.push(alias.replace(/^npm:/, ''))
    }
  }
  return wanted
}

// skipLibCheck as `tsc --init` sets it: without it, in this app that also holds Express 5 (whose
// content-disposition 2 ships types of its own), @types/koa 3.0.3 fails on that dependency and the
// check would test third-party typings instead of ours. LIBCHECK_TSCONFIG checks ours.
const NODE16_TSCONFIG = {
  compilerOptions: {
    module: 'node16',
    moduleResolution: 'node16',
    target: 'es2022',
    lib: ['es2022'],
    types: ['node'],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    rootDir: '.',
    outDir: 'out',
  },
  files: ['app-node16.mts', 'app-node16.cts'],
}

// Both module formats' declaration files of @floodgate/fastify in one program, with their own
// checks on: each augments Fastify's route config, and the two declarations must agree (TS2717).
// The Fastify app alone, so that no other framework's typings are checked.
const LIBCHECK_TSCONFIG = {
  compilerOptions: { ...NODE16_TSCONFIG.compilerOptions, skipLibCheck: false, noEmit: true },
  files: ['fastify-node16.mts', 'fastify-node16.cts'],
}

// Core and Express declaration files checked (`skipLibCheck: false`) by every TypeScript the
// consumer test runs, the oldest included: with skipLibCheck an error inside a declaration file
// is not reported and the type it breaks becomes `any`. (Koa's typings fail there on Express 5's
// content-disposition, Fastify 5's need TypeScript 5.4: LIBCHECK_TSCONFIG checks @floodgate/fastify.)
const LIBCHECK_EXPRESS_TSCONFIG = {
  compilerOptions: { ...NODE16_TSCONFIG.compilerOptions, skipLibCheck: false, noEmit: true },
  files: ['express-node16.mts', 'express-node16.cts'],
}

const BUNDLER_TSCONFIG = {
  compilerOptions: {
    module: 'esnext',
    moduleResolution: 'bundler',
    target: 'es2022',
    lib: ['es2022'],
    types: ['node'],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    noEmit: true,
  },
  files: ['app-bundler.ts'],
}

async function writeApp(dir: string, adapters: readonly Adapter[]): Promise<void> {
  const files: Record<string, string> = {
    'package.json': JSON.stringify({ name: 'floodgate-consumer', version: '1.0.0', private: true }, null, 2),
    'app.mjs': appSource('esm', adapters, false),
    'app.cjs': appSource('cjs', adapters, false),
    'app-node16.mts': appSource('esm', adapters, true),
    'app-node16.cts': appSource('cjs', adapters, true),
    'app-bundler.ts': appSource('esm', adapters, true),
    'fastify-node16.mts': appSource('esm', ['fastify'], true),
    'fastify-node16.cts': appSource('cjs', ['fastify'], true),
    'express-node16.mts': appSource('esm', ['express'], true),
    'express-node16.cts': appSource('cjs', ['express'], true),
    'tsconfig.libcheck.json': JSON.stringify(LIBCHECK_TSCONFIG, null, 2),
    'tsconfig.libcheck-express.json': JSON.stringify(LIBCHECK_EXPRESS_TSCONFIG, null, 2),
    'tsconfig.node16.json': JSON.stringify(NODE16_TSCONFIG, null, 2),
    'tsconfig.bundler.json': JSON.stringify(BUNDLER_TSCONFIG, null, 2),
  }
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text)
}

/**
 * The oldest and the newest TypeScript the published types are checked with, besides the
 * workspace's own (`typescript-5.0` and `typescript-7` in the root package.json). 5.0 is the first
 * with `moduleResolution: bundler`; Fastify 5's own typings need 5.4 (`NoInfer`), so the program
 * that checks @floodgate/fastify's declaration files runs on the newest only.
 */
const OTHER_TYPESCRIPTS = ['typescript-5.0', 'typescript-7'] as const

/** The `tsc` of an installed TypeScript (7 exports no `bin/tsc`, so it is found by its package.json). */
function tscOf(name: string): string {
  return join(
    dirname(createRequire(join(root, 'package.json')).resolve(`${name}/package.json`)),
    'bin',
    'tsc',
  )
}

async function main(): Promise<void> {
  const build = !process.argv.includes('--no-build')
  const adapters = ADAPTERS
  const tsc = tscOf('typescript')
  if (build) {
    step('pnpm build')
    await runCommand('pnpm', ['run', 'build'], { cwd: root, timeoutMs: remainingMs(120_000) })
  }
  const others = new Map<string, string>()
  for (const version of OTHER_NODE_VERSIONS) {
    step(`Node.js ${version} (fetched from the npm registry once)`)
    others.set(version, await nodeBinary(version))
  }
  const tmp = await mkdtemp(join(tmpdir(), 'floodgate-consumer-'))
  const cleanup = () => rm(tmp, { recursive: true, force: true })
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)))
  try {
    const tarballDir = join(tmp, 'tarballs')
    const appDir = join(tmp, 'app')
    await mkdir(appDir, { recursive: true })
    for (const name of ['core', ...adapters]) {
      step(`pnpm pack @floodgate/${name}`)
      await runCommand('pnpm', ['pack', '--pack-destination', tarballDir], {
        cwd: join(root, 'packages', name),
        timeoutMs: remainingMs(30_000),
      })
    }
    const tarballs = (await readdir(tarballDir))
      .filter((f) => f.endsWith('.tgz'))
      .map((f) => join(tarballDir, f))
    await writeApp(appDir, adapters)
    const dependencies = await thirdPartyDependencies(adapters)
    step(`npm install ${tarballs.length} tarballs + ${dependencies.join(' ')} in ${appDir}`)
    await runCommand(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--loglevel=error',
        ...tarballs,
        ...dependencies,
      ],
      { cwd: appDir, timeoutMs: remainingMs(120_000), env: npmEnvironment() },
    )
    step('every package ships its LICENSE and README')
    for (const name of ['core', ...adapters]) {
      for (const file of ['LICENSE', 'README.md']) {
        await readFile(join(appDir, 'node_modules', '@floodgate', name, file), 'utf8')
      }
    }
    const node = (file: string) =>
      runCommand(process.execPath, [file], { cwd: appDir, timeoutMs: remainingMs(30_000) })
    step('ESM JavaScript')
    process.stdout.write(await node('app.mjs'))
    step('CJS JavaScript')
    process.stdout.write(await node('app.cjs'))
    for (const [version, other] of others) {
      step(`ESM and CJS JavaScript on Node.js ${version}`)
      for (const file of ['app.mjs', 'app.cjs']) {
        process.stdout.write(await runCommand(other, [file], { cwd: appDir, timeoutMs: remainingMs(30_000) }))
      }
    }
    step('TypeScript, moduleResolution node16: tsc, then run the .mjs and .cjs output')
    await runCommand(process.execPath, [tsc, '-p', 'tsconfig.node16.json'], {
      cwd: appDir,
      timeoutMs: remainingMs(60_000),
    })
    process.stdout.write(await node('out/app-node16.mjs'))
    process.stdout.write(await node('out/app-node16.cjs'))
    step(
      "TypeScript, node16: @floodgate/fastify's ESM and CJS declarations in one program, skipLibCheck false",
    )
    await runCommand(process.execPath, [tsc, '-p', 'tsconfig.libcheck.json'], {
      cwd: appDir,
      timeoutMs: remainingMs(60_000),
    })
    step("TypeScript, node16: @floodgate/core's and @floodgate/express's declarations, skipLibCheck false")
    await runCommand(process.execPath, [tsc, '-p', 'tsconfig.libcheck-express.json'], {
      cwd: appDir,
      timeoutMs: remainingMs(60_000),
    })
    step('TypeScript, moduleResolution bundler: tsc --noEmit')
    await runCommand(process.execPath, [tsc, '-p', 'tsconfig.bundler.json'], {
      cwd: appDir,
      timeoutMs: remainingMs(60_000),
    })
    for (const name of OTHER_TYPESCRIPTS) {
      const other = tscOf(name)
      const version = JSON.parse(
        await readFile(join(dirname(dirname(other)), 'package.json'), 'utf8'),
      ).version
      const configs = [
        'node16',
        'bundler',
        'libcheck-express',
        ...(name === 'typescript-7' ? ['libcheck'] : []),
      ]
      step(`TypeScript ${version}: ${configs.join(', ')}, --noEmit`)
      for (const config of configs) {
        await runCommand(process.execPath, [other, '-p', `tsconfig.${config}.json`, '--noEmit'], {
          cwd: appDir,
          timeoutMs: remainingMs(60_000),
        })
      }
    }
    step("The README's Express, Koa and Fastify snippets, pasted into the app")
    const readme = await readFile(join(root, 'README.md'), 'utf8')
    process.stdout.write(await runReadmeSnippets(readme, appDir, remainingMs(30_000)))
    step('TypeScript, node16, against Express 4, Koa 2 and Fastify 4 and their typings')
    const olderDir = join(tmp, 'older')
    await mkdir(olderDir, { recursive: true })
    await writeApp(olderDir, adapters)
    const older = await olderMajors(adapters)
    await runCommand(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...tarballs, ...older],
      { cwd: olderDir, timeoutMs: remainingMs(120_000), env: npmEnvironment() },
    )
    // What npm installed is what this step says it checks.
    for (const name of older.map((spec) => spec.slice(0, spec.lastIndexOf('@')))) {
      const installed = JSON.parse(
        await readFile(join(olderDir, 'node_modules', name, 'package.json'), 'utf8'),
      )
      const wanted = older.find((spec) => spec.startsWith(`${name}@`))!.slice(name.length + 1)
      if (installed.version !== wanted)
        throw new Error(`consumer test: ${name} ${installed.version} installed, ${wanted} wanted`)
    }
    await runCommand(process.execPath, [tsc, '-p', 'tsconfig.node16.json', '--noEmit'], {
      cwd: olderDir,
      timeoutMs: remainingMs(60_000),
    })
    step('passed')
  } finally {
    await cleanup()
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exitCode = 1
})
