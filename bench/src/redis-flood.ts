// Deny-cache flood: one limited identifier hammered with 64 calls in flight, with the limiter's
// cache of denials on (the default for a remote store) and off, counting Redis commands.
import { createRateLimiter, type Decision, fixedWindow, type Policy, tokenBucket } from '@floodgate/core'
import { redisStore } from '@floodgate/core/redis'
import type { Rig } from './redis-contenders.js'
import { countCommands, runPool } from './redis-measure.js'

const FLOOD_REQUESTS = 10_000
const LIMIT = 10
/** An hour-long window, so the flood never crosses a window boundary (retry times are minutes away). */
const FLOOD_WINDOW_MS = 3_600_000
/** One token per this interval: a retry time short enough to wait for. */
const REFILL_MS = 300
/** The hammering before the retry time stops this early, so no call races the refill. */
const STOP_BEFORE_RETRY_MS = 20

export interface FloodResult {
  variant: string
  /** Commands sent, and all commands (those scripts ran too), per request of the flood. */
  floodSentPerRequest: number
  floodCommandsPerRequest: number
  floodDenied: number
  /** Commands sent per request while hammering a token bucket until just before its retry time. */
  waitSentPerRequest: number
  waitRequests: number
  retryAfterMs: number
  /** The decision of the request sent exactly retryAfterMs after the denial arrived. */
  afterRetryAllowed: boolean
  /** Commands that request sent. */
  afterRetrySent: number
}

function limiterFor(rig: Rig, policy: Policy, cache: boolean, prefix: string) {
  return createRateLimiter({
    policies: [policy],
    store: redisStore({ client: rig.ioredis }),
    prefix,
    ...(cache ? {} : { denyCache: false }),
  })
}

function expectDenied(d: unknown): void {
  if ((d as Decision).reason !== 'limited')
    throw new Error(`expected a denial, got ${(d as Decision).reason}`)
}

export async function denyCacheFlood(rig: Rig, cache: boolean): Promise<FloodResult> {
  const variant = cache ? 'deny cache on (default)' : 'denyCache: false'
  const tag = `${cache ? 'on' : 'off'}-${Date.now()}`

  const flood = limiterFor(
    rig,
    fixedWindow({ name: 'flood', limit: LIMIT, window: FLOOD_WINDOW_MS }),
    cache,
    tag,
  )
  for (let i = 0; i < LIMIT; i++) await flood.limit('attacker')
  expectDenied(await flood.limit('attacker')) // the first denial: the one Redis must answer
  let floodDenied = 0
  const floodCall = {
    name: variant,
    call: (id: string) => flood.limit(id),
    check: (d: unknown) => {
      expectDenied(d)
      floodDenied++
    },
  }
  const floodDelta = await countCommands(rig.admin, FLOOD_REQUESTS, () =>
    runPool(floodCall, () => 'attacker', { count: FLOOD_REQUESTS }),
  )

  const bucket = tokenBucket({ name: 'wait', capacity: 1, refillRate: 1, interval: REFILL_MS })
  const waiting = limiterFor(rig, bucket, cache, `${tag}-wait`)
  await waiting.limit('steady')
  const denial = await waiting.limit('steady')
  const deniedAt = performance.now()
  expectDenied(denial)
  const { retryAfterMs } = denial
  let waitRequests = 0
  const waitCall = { name: variant, call: (id: string) => waiting.limit(id), check: expectDenied }
  const waitDelta = await countCommands(rig.admin, 1, async () => {
    const sample = await runPool(waitCall, () => 'steady', {
      durationMs: retryAfterMs - STOP_BEFORE_RETRY_MS - (performance.now() - deniedAt),
    })
    waitRequests = sample.decisions
  })
  // Wait exactly the Retry-After the store gave, counted from when its answer arrived.
  await new Promise((resolve) =>
    setTimeout(resolve, Math.max(0, deniedAt + retryAfterMs - performance.now())),
  )
  let afterRetry: Decision | undefined
  const afterDelta = await countCommands(rig.admin, 1, async () => {
    afterRetry = await waiting.limit('steady')
  })
  await Promise.all([flood.close(), waiting.close()])
  return {
    variant,
    floodSentPerRequest: floodDelta.sentPerOperation,
    floodCommandsPerRequest: floodDelta.perOperation,
    floodDenied,
    waitSentPerRequest: waitDelta.sentTotal / Math.max(1, waitRequests),
    waitRequests,
    retryAfterMs,
    afterRetryAllowed: afterRetry?.allowed === true,
    afterRetrySent: afterDelta.sentTotal,
  }
}
