export {
  type FromUpstashOptions,
  fromUpstash,
  type UpstashRatelimit,
  type UpstashRatelimitResponse,
} from './from-upstash.js'
export { type UpstashRedisClient, type UpstashStoreOptions, upstashStore } from './upstash-store.js'
