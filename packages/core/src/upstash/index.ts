export {
  type FromUpstashOptions,
  fromUpstash,
  type UpstashRatelimit,
  type UpstashRatelimitResponse,
  type UpstashRatelimitTiers,
} from './from-upstash.js'
export { type UpstashRedisClient, type UpstashStoreOptions, upstashStore } from './upstash-store.js'
