// Child process of the HTTP benchmark: `http-server.ts <framework> <variant | switch | switch-timed>`.
// Serves one app (one variant, or every variant behind a switch, timed or not) and answers its
// parent over IPC. CPU time is measured here, inside the server process, because
// throughput on a shared machine mostly measures the neighbours.
import {
  FRAMEWORKS,
  type Framework,
  ownTime,
  type ServerMode,
  startBenchServer,
  VARIANTS,
} from './http-apps.js'
import type { ChildMessage, ParentMessage } from './http-protocol.js'

const [framework, mode] = process.argv.slice(2) as [Framework, ServerMode]
const modes: readonly string[] = [...VARIANTS, 'switch', 'switch-timed']
if (!FRAMEWORKS.includes(framework) || !modes.includes(mode)) {
  throw new Error(`usage: http-server.ts <${FRAMEWORKS.join('|')}> <${modes.join('|')}>`)
}
if (typeof process.send !== 'function') throw new Error('http-server.ts must be started with an IPC channel')

const send = (message: ChildMessage) => process.send!(message)
const { server, select } = await startBenchServer(framework, mode)
let served = 0
server.on('request', () => {
  served++
})
let startCpu = process.cpuUsage()
let startServed = 0

process.on('message', (message: ParentMessage) => {
  if (message.type === 'select') {
    send({ type: 'selected', path: select(message.variant) })
  } else if (message.type === 'begin') {
    startServed = served
    ownTime.micros = 0
    ownTime.requests = 0
    startCpu = process.cpuUsage()
    send({ type: 'begun' })
  } else if (message.type === 'end') {
    const cpu = process.cpuUsage(startCpu)
    send({
      type: 'ended',
      cpuMicros: cpu.user + cpu.system,
      systemMicros: cpu.system,
      requests: served - startServed,
      ownMicros: ownTime.micros,
      ownRequests: ownTime.requests,
    })
  }
})
// The parent going away (normally or not) ends the server.
process.on('disconnect', () => {
  server.close()
  server.closeAllConnections()
  process.exit(0)
})

const address = server.address()
send({ type: 'ready', port: typeof address === 'object' && address !== null ? address.port : 0 })
