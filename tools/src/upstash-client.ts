import { Redis } from '@upstash/redis'

/**
 * An @upstash/redis client for a local Upstash server (or any REST URL) as the tests use it: no
 * retries (a retried HTTP request may have run) and no telemetry.
 */
export function upstashTestClient(server: { url: string; token: string }): Redis {
  return new Redis({ url: server.url, token: server.token, retry: { retries: 0 }, enableTelemetry: false })
}
