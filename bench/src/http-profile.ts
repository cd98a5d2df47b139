// Where a benchmark server spends its CPU: `pnpm --filter @floodgate/bench exec node
// --conditions=@floodgate/source --import tsx src/http-profile.ts <framework> <variant> [seconds]`.
// Runs the server under --cpu-prof, loads it like the benchmark does, and prints the functions with
// the most self time and the inclusive time of Floodgate's code, in µs per request.
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FRAMEWORKS, type Framework, VARIANTS, type Variant } from './http-apps.js'
import { ServerProcess } from './http-load.js'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

const [framework, variant, seconds = '5'] = process.argv.slice(2) as [Framework, Variant, string?]
if (!FRAMEWORKS.includes(framework) || !VARIANTS.includes(variant)) {
  throw new Error(`usage: http-profile.ts <${FRAMEWORKS.join('|')}> <${VARIANTS.join('|')}> [seconds]`)
}
const dir = mkdtempSync(join(tmpdir(), 'floodgate-http-profile-'))
const server = await ServerProcess.start(framework, variant, ['--cpu-prof', `--cpu-prof-dir=${dir}`])
const warmUp = await server.measure({ connections: 10, durationSeconds: 2 })
const sample = await server.measure({ connections: 10, durationSeconds: Number(seconds) })
await server.stop()
// The main thread's profile; the module loader's worker thread writes a smaller one.
const file = readdirSync(dir)
  .filter((f) => f.endsWith('.cpuprofile'))
  .sort((a, b) => statSync(join(dir, b)).size - statSync(join(dir, a)).size)[0]
if (file === undefined) throw new Error(`no .cpuprofile written in ${dir}`)
const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile

// The profile covers the warm-up as well: per-request figures divide by both rounds' requests.
const requests = warmUp.requestsPerSecond * 2 + sample.requestsPerSecond * Number(seconds)
console.log(
  `${framework} ${variant}: ${Math.round(sample.requestsPerSecond)} req/s, ${sample.cpuMicrosPerRequest.toFixed(1)} µs CPU/req in the measured round; profile ${join(dir, file)}\n` +
    '(the profile spans the whole process, start-up included: per-request figures are slight overestimates)\n',
)

// Self time per node, in µs.
const selfMicros = new Map<number, number>()
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!
  selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
}
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const where = (n: ProfileNode) => {
  const url = n.callFrame.url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, '')
  return `${n.callFrame.functionName || '(anonymous)'} ${url.replace(/^.*\/packages\//, 'packages/')}:${n.callFrame.lineNumber + 1}`
}
const isFloodgate = (n: ProfileNode) =>
  n.callFrame.url.includes('/packages/') && !n.callFrame.url.includes('node_modules')

const self = new Map<string, number>()
for (const n of profile.nodes) self.set(where(n), (self.get(where(n)) ?? 0) + (selfMicros.get(n.id) ?? 0))
const top = [...self.entries()].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1])

// Floodgate's share: the self time of its own frames, plus everything it calls outside itself
// (setting headers through the framework, reading the client IP), except the rest of the app it
// hands over to (the next middleware, the route) and socket writes (a profile samples wall time,
// so a descheduled thread shows up there on a busy machine).
function downstream(n: ProfileNode): boolean {
  const { functionName, url } = n.callFrame
  return (
    url.includes('/bench/src/') ||
    (url.includes('koa-compose') && functionName === 'dispatch') ||
    (url.includes('/router/') && functionName === 'next') ||
    /^(writev|writevGeneric|writeGeneric|writeUtf8String|writeLatin1String|writeBuffer)$/.test(functionName)
  )
}
function inclusive(id: number): number {
  const n = byId.get(id)!
  if (downstream(n)) return 0
  return (selfMicros.get(id) ?? 0) + (n.children ?? []).reduce((sum, c) => sum + inclusive(c), 0)
}
const parents = new Map<number, number>()
for (const n of profile.nodes) for (const c of n.children ?? []) parents.set(c, n.id)
const shares = new Map<string, number>()
const add = (name: string, micros: number) => shares.set(name, (shares.get(name) ?? 0) + micros)
function visit(id: number): void {
  const n = byId.get(id)!
  if (downstream(n)) return
  if (!isFloodgate(n)) {
    add(`→ ${where(n)}`, inclusive(id))
    return
  }
  add(where(n), selfMicros.get(id) ?? 0)
  for (const c of n.children ?? []) visit(c)
}
for (const n of profile.nodes) {
  if (!isFloodgate(n)) continue
  let p = parents.get(n.id)
  while (p !== undefined && !isFloodgate(byId.get(p)!)) p = parents.get(p)
  if (p === undefined) visit(n.id) // an outermost Floodgate frame
}
const floodgateMicros = [...shares.values()].reduce((a, b) => a + b, 0)
console.log(
  `Floodgate: ${(floodgateMicros / requests).toFixed(2)} µs per request (its own code, and → what it calls in the framework or node)`,
)
for (const [name, micros] of [...shares.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
  if (micros / requests >= 0.02) console.log(`  ${(micros / requests).toFixed(2).padStart(7)}  ${name}`)
}
console.log('\nTop self time in the whole process (µs per request):')
for (const [name, micros] of top.slice(0, 20))
  console.log(`  ${(micros / requests).toFixed(2).padStart(7)}  ${name}`)
