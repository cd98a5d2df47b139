// Publishes the workspace's packages to npm, one at a time, each after the packages it depends on.
// `changeset publish` starts them all at once: a core that failed to publish (a scope permission,
// a one-time password) would leave adapters on npm that depend on a core version that does not
// exist. It also publishes whatever version is in package.json, 0.0.0 included, when
// `pnpm version-packages` was forgotten. This script refuses both.
//
// `pnpm release` runs the full check, then this. `--dry-run` prints the plan and publishes nothing.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** One published package as the plan needs it. */
export interface ReleasePackage {
  name: string
  version: string
  /** Its folder, relative to the workspace root. */
  dir: string
  /** The names of the other released packages it depends on (any kind of dependency). */
  needs: string[]
}

/** Thrown when the workspace is not ready to publish; the message says what to do. */
export class ReleaseRefused extends Error {}

/**
 * The packages in publishing order (every package after those it needs), or ReleaseRefused when
 * changesets are still pending, a version was never set, or the fixed group's versions differ.
 */
export function releasePlan(
  changesetFiles: readonly string[],
  packages: readonly ReleasePackage[],
): ReleasePackage[] {
  const pending = changesetFiles.filter((file) => file.endsWith('.md') && file !== 'README.md')
  if (pending.length > 0) {
    throw new ReleaseRefused(
      `${pending.length} changeset(s) are still pending (${pending.slice(0, 3).join(', ')}${pending.length > 3 ? ', …' : ''}): run \`pnpm version-packages\`, review and commit the result, then release.`,
    )
  }
  const unset = packages.filter((p) => p.version === '0.0.0')
  if (unset.length > 0) {
    throw new ReleaseRefused(
      `${unset.map((p) => p.name).join(', ')} still at 0.0.0: run \`pnpm version-packages\` and commit the result first.`,
    )
  }
  const versions = new Set(packages.map((p) => p.version))
  if (versions.size > 1) {
    throw new ReleaseRefused(
      `The packages are released together at one version, but have ${[...versions].join(', ')}: ${packages.map((p) => `${p.name}@${p.version}`).join(', ')}.`,
    )
  }
  const order: ReleasePackage[] = []
  const placed = new Set<string>()
  const byName = new Map(packages.map((p) => [p.name, p]))
  const visit = (p: ReleasePackage, path: string[]) => {
    if (placed.has(p.name)) return
    if (path.includes(p.name)) throw new ReleaseRefused(`Dependency cycle: ${[...path, p.name].join(' → ')}.`)
    for (const need of p.needs) {
      const dependency = byName.get(need)
      if (dependency !== undefined) visit(dependency, [...path, p.name])
    }
    placed.add(p.name)
    order.push(p)
  }
  for (const p of packages) visit(p, [])
  return order
}

interface Manifest {
  name: string
  version: string
  private?: boolean
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
}

/** The workspace's non-private packages under packages/. */
export function workspacePackages(root: string): ReleasePackage[] {
  const manifests = readdirSync(join(root, 'packages')).map((folder) => {
    const dir = join('packages', folder)
    const manifest = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as Manifest
    return { dir, manifest }
  })
  const released = manifests.filter(({ manifest }) => manifest.private !== true)
  const names = new Set(released.map(({ manifest }) => manifest.name))
  return released.map(({ dir, manifest }) => {
    const all = { ...manifest.dependencies, ...manifest.peerDependencies, ...manifest.optionalDependencies }
    return {
      name: manifest.name,
      version: manifest.version,
      dir,
      needs: Object.keys(all).filter((name) => names.has(name)),
    }
  })
}

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
}

function isOnRegistry(p: ReleasePackage, root: string): boolean {
  try {
    return run('npm', ['view', `${p.name}@${p.version}`, 'version'], root).trim() === p.version
  } catch {
    return false // npm view fails (E404) for a version that does not exist
  }
}

function main(): void {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const dryRun = process.argv.includes('--dry-run')
  const plan = releasePlan(readdirSync(join(root, '.changeset')), workspacePackages(root))
  if (!dryRun && run('git', ['status', '--porcelain'], root).trim() !== '') {
    throw new ReleaseRefused(
      'The working tree has uncommitted changes: commit the versioned packages first, so the tags point at them.',
    )
  }
  for (const p of plan) {
    if (dryRun) {
      console.log(`would publish ${p.name}@${p.version} (${p.dir})`)
    } else if (isOnRegistry(p, root)) {
      console.log(`${p.name}@${p.version} is on npm already; skipped`)
    } else {
      console.log(`publishing ${p.name}@${p.version}`)
      // pnpm publish turns workspace: ranges into versions and applies publishConfig.
      // Attached to the terminal: npm may ask for a one-time password.
      execFileSync('pnpm', ['publish', '--access', 'public', '--no-git-checks'], {
        cwd: join(root, p.dir),
        stdio: 'inherit',
      })
    }
  }
  // A git tag for each released version (skips those that exist).
  if (!dryRun) execFileSync('pnpm', ['changeset', 'tag'], { cwd: root, stdio: 'inherit' })
}

// Run as a script (`tsx scripts/release.ts`, or without the extension), not imported by its test.
const entry = process.argv[1] === undefined ? undefined : resolve(process.argv[1])
const self = fileURLToPath(import.meta.url)
if (entry !== undefined && (entry === self || entry === self.replace(/\.ts$/, ''))) {
  try {
    main()
  } catch (error) {
    console.error(error instanceof ReleaseRefused ? `release refused: ${error.message}` : error)
    process.exitCode = 1
  }
}
