// Option names of other rate limiters (express-rate-limit, @fastify/rate-limit, koa-ratelimit,
// rate-limiter-flexible), as a migrating user passes them: each unknown-option error names the fix
// instead of the nearest spelling (`limit` is not a misspelt `limiter`).

const LIMITS =
  "Limits are policies: `policies: fixedWindow({ limit: 100, window: '15 m' })` (or slidingWindow, tokenBucket)."
// rate-limiter-flexible's `duration` is seconds, koa-ratelimit's milliseconds: a copied number is
// either right or a thousand times too short, and nothing else can tell which.
const DURATION = `${LIMITS} A window given as a number is milliseconds (rate-limiter-flexible's \`duration: 60\` is \`window: '60 s'\`).`
const PREFIX = 'The key prefix is `prefix`.'
const STORE =
  'The store is `store: redisStore({ client })` from `@floodgate/core/redis` (or `memoryStore()`, `upstashStore({ redis })`).'
const STORE_ERROR = "What a store failure does is `onStoreError: 'allow' | 'deny'`."
const NO_BLOCK =
  "There is no block: a denied identifier is admitted again once its policies would admit it. For a longer lock-out add a longer policy (`fixedWindow({ limit: 20, window: '1 h' })`)."
const NO_DELAY =
  "Floodgate answers at once and never delays a request; a `tokenBucket({ capacity: 1, refillRate: 5, interval: '1 s' })` admits one every 200 ms."
const DENY_CACHE =
  'Identifiers the store just denied are answered from memory until their retry time: `denyCache` (on by default for Redis and Upstash).'

const CLIENT_DETECTED = 'Nothing to set: the client library (ioredis or node-redis) is detected.'
// rate-limiter-flexible's SQL, MongoDB, DynamoDB, Memcached and etcd stores.
const OWN_STORE = `${STORE} A store of your own implements \`RateLimitStore\` and passes \`runStoreConformance\` from \`@floodgate/core/testing\`.`

/** Hints for other rate limiters' option names: each says so, and where the guides are. */
export function peerHints(hints: Readonly<Record<string, string>>): Record<string, string> {
  const said: Record<string, string> = {}
  for (const [name, hint] of Object.entries(hints)) {
    said[name] = `It is another rate limiter's option. ${hint} See docs/migrating.`
  }
  return said
}

// Floodgate's own policy options, given to the limiter or the middleware instead of a policy.
const IN_A_POLICY =
  "It is a policy's option: `policies: tokenBucket({ capacity: 10, refillRate: 1, interval: '1 s' })` or `fixedWindow({ limit: 100, window: '15 m' })` (or slidingWindow). See docs/algorithms.md."

/** For `createRateLimiter()`. */
export const LIMITER_PEER_HINTS: Readonly<Record<string, string>> = Object.freeze({
  window: IN_A_POLICY,
  capacity: IN_A_POLICY,
  refillRate: IN_A_POLICY,
  interval: IN_A_POLICY,
  ...peerHints({
    windowMs: LIMITS,
    max: LIMITS,
    limit: LIMITS,
    timeWindow: LIMITS,
    duration: DURATION,
    points: DURATION,
    keyPrefix: PREFIX,
    nameSpace: PREFIX,
    namespace: PREFIX,
    driver: STORE,
    db: STORE,
    redis: STORE,
    storeClient: STORE,
    skipOnError: STORE_ERROR,
    passOnStoreError: STORE_ERROR,
    insuranceLimiter: `${STORE_ERROR} There is no fallback limiter.`,
    blockDuration: NO_BLOCK,
    blockOnConsumed: NO_BLOCK,
    execEvenly: NO_DELAY,
    execEvenlyMinDelayMs: NO_DELAY,
    inMemoryBlockOnConsumed: DENY_CACHE,
    inMemoryBlockDuration: DENY_CACHE,
    timeoutMs:
      "The deadline of each store call is `timeout` (milliseconds, or a duration such as `'250 ms'`).",
    rejectIfRedisNotReady: `Nothing to set: a store whose client is not ready fails the call at once. ${STORE_ERROR}`,
    useRedisPackage: CLIENT_DETECTED,
    useRedis3AndLowerPackage: CLIENT_DETECTED,
    customIncrTtlLuaScript:
      'There is no custom script: the Redis store runs its own, every policy of a request in one call.',
    storeType: OWN_STORE,
    dbName: OWN_STORE,
    tableName: OWN_STORE,
    tableCreated: OWN_STORE,
    clearExpiredByTimeout: OWN_STORE,
    schema: OWN_STORE,
    indexKeyPrefix: OWN_STORE,
  }),
})

const ANSWER = 'The answer to a limited request is replaced with `onLimited`.'
const HEADERS =
  "Header formats are `headers: ['draft-8', 'legacy']` (any of draft-8, draft-7, draft-6, legacy), or `false` for none."
const KEY =
  'The key is `key(req)` (Koa: `key(ctx)`), returning a string, maybe async; the default is the client IP.'
const SKIP = 'Requests to let through unlimited are those `skip(req)` (Koa: `skip(ctx)`) returns true for.'
const OUTCOME =
  'Floodgate counts a request when it arrives and refunds nothing afterwards: there is no equivalent.'

/** For the middleware of every adapter. */
export const MIDDLEWARE_PEER_HINTS: Readonly<Record<string, string>> = Object.freeze({
  ...LIMITER_PEER_HINTS,
  ...peerHints({
    keyGenerator: KEY,
    id: KEY,
    handler: ANSWER,
    message: ANSWER,
    statusCode: ANSWER,
    status: ANSWER,
    errorResponseBuilder: ANSWER,
    errorMessage: ANSWER,
    throw: ANSWER,
    onExceeded: ANSWER,
    standardHeaders: HEADERS,
    legacyHeaders: HEADERS,
    enableDraftSpec: HEADERS,
    addHeaders: HEADERS,
    addHeadersOnExceeding: HEADERS,
    disableHeader: HEADERS,
    allowList: SKIP,
    whitelist: SKIP,
    blacklist: 'There is no deny list: refuse those requests in a middleware before the limiter.',
    ban: 'There is no ban: refuse those requests in a middleware before the limiter.',
    skipFailedRequests: OUTCOME,
    skipSuccessfulRequests: OUTCOME,
    requestWasSuccessful: OUTCOME,
    requestPropertyName:
      'The decision is always `req.rateLimit` (Koa: `ctx.state.rateLimit`, Fastify: `request.rateLimit`).',
    identifier: "A policy's name in the headers is its `name`: `fixedWindow({ name: 'api', … })`.",
    retryAfter:
      'There is no equivalent: Retry-After is always the earliest time the same request would pass, in whole seconds.',
    validate:
      "Options are always checked when made. Runtime warnings are silenced one by one with `silenceWarnings: ['WARN_FLOODGATE_…']`, or all with `logger: false`.",
    cache: 'The memory store is bounded by `store: memoryStore({ maxKeys })`.',
    groupId: 'Routes that share one budget share one `limiter` made by `createRateLimiter()`.',
    hook: 'There is no equivalent: Floodgate decides before the body is read. To key on a parsed body, call `limiter.limit()` in your own hook.',
    onExceeding: 'There is no equivalent: read the decision (`request.rateLimit`) in a later hook.',
    onBanReach: 'There is no ban: refuse those requests in a middleware before the limiter.',
    continueExceeding: 'There is no equivalent: a denied request never changes the counters.',
    exponentialBackoff:
      "There is no equivalent: for a longer lock-out add a longer policy (`fixedWindow({ limit: 20, window: '1 h' })`).",
  }),
})
