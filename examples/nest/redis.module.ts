// The RedisModule of docs/nestjs.md ("Shutdown"), as the page gives it (page-code.test.ts).
import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common'
import { Redis } from 'ioredis'

export const REDIS = Symbol('REDIS')
const options = { enableOfflineQueue: false, autoResendUnfulfilledCommands: false, // see docs/stores.md
  maxRetriesPerRequest: 0, commandTimeout: 200, socketTimeout: 220,
  retryStrategy: (attempt: number) => Math.min(attempt * 50, 1_000) }

@Module({
  providers: [{ provide: REDIS, useFactory: () => new Redis(process.env.REDIS_URL!, options) }],
  exports: [REDIS],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  async onApplicationShutdown() {
    // After the HTTP server has closed. With Redis down, quit() fails (no offline queue) and the
    // client would keep reconnecting, holding the process open: disconnect() ends it.
    await this.redis.quit().catch(() => this.redis.disconnect())
  }
}
