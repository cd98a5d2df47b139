export { type EventLoopLag, watchEventLoopLag } from './event-loop-lag.js'
export {
  type FaultMode,
  type FaultProxy,
  type StartFaultProxyOptions,
  startFaultProxy,
} from './fault-proxy.js'
export { FORBIDDEN_PORTS, findFreePort, isPortFree } from './free-port.js'
export { type GuardedProcess, isProcessAlive, spawnGuarded } from './guarded-process.js'
export { ShebangScripts, sha1Hex } from './lua-shebang.js'
export { isCi, isRedisServerOnPath } from './redis-availability.js'
export { type RedisCluster, type StartRedisClusterOptions, startRedisCluster } from './redis-cluster.js'
export { type RedisServer, type StartRedisServerOptions, startRedisServer } from './redis-server.js'
export { encodeCommand, parseReply, type RespReply, sendRespCommand } from './resp-command.js'
export { expectNoUnhandledRejections } from './unhandled-rejections.js'
export { upstashTestClient } from './upstash-client.js'
export { encodeReply } from './upstash-encoding.js'
export { type StartUpstashServerOptions, startUpstashServer, type UpstashServer } from './upstash-server.js'
export {
  describeRedis,
  describeRedisServer,
  redisServerAvailableOrSkip,
  redisUrlOrSkip,
  requireRedisUrl,
} from './vitest-redis.js'
export { type UpstashSuite, useUpstashServer } from './vitest-upstash.js'
