// The server that `http-instructions.ts` runs under valgrind: `<framework> <variant>`, one variant
// of the HTTP bench's app on a free loopback port. It prints the port on stdout and exits when its
// stdin closes, so valgrind can count the whole process and print its totals.
import { FRAMEWORKS, type Framework, startBenchServer, VARIANTS, type Variant } from './http-apps.js'

const [framework, variant] = process.argv.slice(2) as [Framework, Variant]
if (!FRAMEWORKS.includes(framework) || !VARIANTS.includes(variant)) {
  throw new Error(`usage: http-instructions-child.ts <${FRAMEWORKS.join('|')}> <${VARIANTS.join('|')}>`)
}
const { server } = await startBenchServer(framework, variant)
const address = server.address()
process.stdout.write(`${typeof address === 'object' && address !== null ? address.port : 0}\n`)
process.stdin.resume()
process.stdin.on('end', () => {
  server.closeAllConnections()
  server.close()
  process.exit(0)
})
