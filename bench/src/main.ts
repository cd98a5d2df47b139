// `pnpm bench` runs every section; `pnpm bench decisions memory` runs only those named.
import { arch, cpus, totalmem } from 'node:os'
import type { Section } from './section.js'

/** Sections load lazily, so a section's dependencies (a Redis client, a framework) load only when it runs. */
const SECTIONS: Record<string, () => Promise<Section>> = {
  decisions: async () => (await import('./decisions.js')).decisionsSection,
  memory: async () => (await import('./memory.js')).memorySection,
  accuracy: async () => (await import('./accuracy.js')).accuracySection,
  http: async () => (await import('./http.js')).httpSection,
  middleware: async () => (await import('./middleware.js')).middlewareSection,
  redis: async () => (await import('./redis.js')).redisSection,
  'deny-cache': async () => (await import('./deny-cache.js')).denyCacheSection,
}

async function main(args: readonly string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log('Usage: pnpm bench [section ...]\n\nSections (all by default):')
    for (const load of Object.values(SECTIONS)) {
      const s = await load()
      console.log(`  ${s.name.padEnd(12)} ${s.description}`)
    }
    return
  }
  const unknown = args.filter((a) => !(a in SECTIONS))
  if (unknown.length > 0) {
    console.error(`Unknown section(s): ${unknown.join(', ')}. Known: ${Object.keys(SECTIONS).join(', ')}.`)
    process.exitCode = 2
    return
  }
  const names = args.length > 0 ? args : Object.keys(SECTIONS)
  const cpu = cpus()
  console.log(
    `# Floodgate benchmarks\n\nnode ${process.version}, ${arch()}, ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ` +
      `${Math.round(totalmem() / 2 ** 30)} GiB, ${new Date().toISOString()}\n`,
  )
  if (typeof (globalThis as { gc?: unknown }).gc !== 'function') {
    console.log('(node was started without --expose-gc: rounds are not separated by a full GC)\n')
  }
  for (const name of names) {
    const section = await SECTIONS[name]!()
    console.log(`## ${section.name}: ${section.description}\n`)
    await section.run()
    console.log('')
  }
}

await main(process.argv.slice(2))
