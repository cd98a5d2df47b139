export type { IoredisClient, NodeRedisClient, RedisClient } from './clients.js'
export { DECIDE_SCRIPT, DECIDE_SHA1 } from './decide-script.js'
export { counterKey } from './keys.js'
export { type RedisStoreOptions, redisStore } from './redis-store.js'
