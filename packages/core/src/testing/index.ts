// @floodgate/core/testing: the shared store conformance kit and test helpers.

export {
  type AttackDriver,
  type AttackServer,
  type ProxyTrust,
  runAdapterAttacks,
} from '../reliability/adapter-attacks.js'
export * from './adapter-behaviour.js'
export { runAdapterTraces } from './adapter-traces.js'
export { TRICKY_IDS } from './cases-isolation.js'
export { seededRandom } from './cases-traces.js'
export { runStoreConformance } from './conformance.js'
export { CONFORMANCE_START_MS, type StoreConformanceOptions } from './conformance-fixture.js'
export { expectLowercaseHeaderNames } from './header-names.js'
export {
  expectSteadyOnKeepAlive,
  KEEP_ALIVE_CASES,
  KEEP_ALIVE_REQUESTS,
  type KeepAliveCase,
  type KeepAliveRun,
} from './keep-alive.js'
export { type LoopbackServer, serveOnLoopback } from './loopback-server.js'
export { type ManualClock, manualClock } from './manual-clock.js'
export { type ReferenceModel, referenceModel } from './reference-model.js'
export {
  CLIENT_LEFT_CASES,
  type ClientLeftApp,
  type ClientLeftCase,
  collectProcessErrors,
  expectHttp2StreamsLimited,
  expectServesOnAfterClientLeft,
  type HeldCall,
  type HeldStore,
  heldStore,
  PIPELINED_METHODS,
  PIPELINED_SUMMARIES,
  type PipelinedAnswer,
  type PipelinedSummary,
  sendPipelined,
  statusOnFreshSocket,
  stillMemoryStore,
  summarizePipelined,
  TRANSPORT_POLICY,
} from './transport-edges.js'
