import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ERROR_CODES, FloodgateError } from './errors.js'
import { createRateLimiter } from './limiter.js'
import { resolveMiddlewareOptions } from './middleware/middleware-options.js'
import { fixedWindow } from './policies/fixed-window.js'
import { slidingWindow } from './policies/sliding-window.js'
import { tokenBucket } from './policies/token-bucket.js'
import { memoryStore } from './stores/memory-store.js'
import { fromUpstash } from './upstash/from-upstash.js'

const { INVALID_OPTION, INVALID_DURATION, UNKNOWN_OPTION, POLICY_CONFLICT } = ERROR_CODES
const policy = fixedWindow({ limit: 5, window: '1 s' })

// [what, construction, code, option named in the message, the value as the message renders it]
const table: [string, () => unknown, string, string, string][] = [
  ['limit -1', () => fixedWindow({ limit: -1, window: '1 s' }), INVALID_OPTION, 'fixedWindow.limit', '-1'],
  [
    'limit NaN',
    () => fixedWindow({ limit: Number.NaN, window: '1 s' }),
    INVALID_OPTION,
    'fixedWindow.limit',
    'NaN',
  ],
  [
    'limit Infinity',
    () => slidingWindow({ limit: Number.POSITIVE_INFINITY, window: '1 s' }),
    INVALID_OPTION,
    'slidingWindow.limit',
    'Infinity',
  ],
  ['limit 1.5', () => fixedWindow({ limit: 1.5, window: '1 s' }), INVALID_OPTION, 'fixedWindow.limit', '1.5'],
  [
    "limit '10'",
    () => slidingWindow({ limit: '10' as unknown as number, window: '1 s' }),
    INVALID_OPTION,
    'slidingWindow.limit',
    '"10"',
  ],
  [
    'limit missing',
    () => fixedWindow({ window: '1 s' } as never),
    INVALID_OPTION,
    'fixedWindow.limit',
    'undefined',
  ],
  ['window 0', () => fixedWindow({ limit: 5, window: 0 }), INVALID_DURATION, 'fixedWindow.window', '0'],
  [
    'window -5',
    () => slidingWindow({ limit: 5, window: -5 }),
    INVALID_DURATION,
    'slidingWindow.window',
    '-5',
  ],
  [
    'window NaN',
    () => fixedWindow({ limit: 5, window: Number.NaN }),
    INVALID_DURATION,
    'fixedWindow.window',
    'NaN',
  ],
  [
    "window '10 parsecs'",
    () => fixedWindow({ limit: 5, window: '10 parsecs' as never }),
    INVALID_DURATION,
    'fixedWindow.window',
    '"10 parsecs"',
  ],
  [
    "window ''",
    () => slidingWindow({ limit: 5, window: '' as never }),
    INVALID_DURATION,
    'slidingWindow.window',
    '""',
  ],
  [
    'window 1e20',
    () => fixedWindow({ limit: 5, window: 1e20 }),
    INVALID_DURATION,
    'fixedWindow.window',
    '100000000000000000000',
  ],
  [
    'capacity 0',
    () => tokenBucket({ capacity: 0, refillRate: 1, interval: '1 s' }),
    INVALID_OPTION,
    'tokenBucket.capacity',
    '0',
  ],
  [
    'refillRate 0',
    () => tokenBucket({ capacity: 5, refillRate: 0, interval: '1 s' }),
    INVALID_OPTION,
    'tokenBucket.refillRate',
    '0',
  ],
  [
    "interval 'soon'",
    () => tokenBucket({ capacity: 5, refillRate: 1, interval: 'soon' as never }),
    INVALID_DURATION,
    'tokenBucket.interval',
    '"soon"',
  ],
  [
    'a sliding window too large for exact arithmetic',
    () => slidingWindow({ limit: 2 ** 40, window: '1 d' }),
    INVALID_OPTION,
    'slidingWindow.limit',
    '1099511627776',
  ],
  [
    'policy name with a colon',
    () => fixedWindow({ name: 'a:b', limit: 1, window: 1 }),
    INVALID_OPTION,
    'fixedWindow.name',
    '"a:b"',
  ],
  ['options null', () => fixedWindow(null as never), INVALID_OPTION, 'fixedWindow(options)', 'null'],
  [
    'options a string',
    () => slidingWindow('1 s' as never),
    INVALID_OPTION,
    'slidingWindow(options)',
    '"1 s"',
  ],
  [
    'policy name empty',
    () => fixedWindow({ name: '', limit: 1, window: 1 }),
    INVALID_OPTION,
    'fixedWindow.name',
    '""',
  ],
  [
    'policy name of 65 characters',
    () => slidingWindow({ name: 'n'.repeat(65), limit: 1, window: 1 }),
    INVALID_OPTION,
    'slidingWindow.name',
    `"${'n'.repeat(60)}…"`,
  ],
  ['maxKeys 0', () => memoryStore({ maxKeys: 0 }), INVALID_OPTION, 'memoryStore.maxKeys', '0'],
  ['maxKeys 1.5', () => memoryStore({ maxKeys: 1.5 }), INVALID_OPTION, 'memoryStore.maxKeys', '1.5'],
  ['no policies', () => createRateLimiter({}), INVALID_OPTION, 'policies', 'undefined'],
  [
    'prefix with a brace',
    () => createRateLimiter({ policies: policy, prefix: 'a{b}' }),
    INVALID_OPTION,
    'prefix',
    '"a{b}"',
  ],
  ['timeout 0', () => createRateLimiter({ policies: policy, timeout: 0 }), INVALID_DURATION, 'timeout', '0'],
  // Longer than a Node.js timer keeps: it would fire after 1 ms and fail every call at once.
  [
    'timeout 30 d',
    () => createRateLimiter({ policies: policy, timeout: '30 d' }),
    INVALID_OPTION,
    'timeout',
    '"30 d"',
  ],
  [
    "onStoreError 'ignore'",
    () => createRateLimiter({ policies: policy, onStoreError: 'ignore' as never }),
    INVALID_OPTION,
    'onStoreError',
    '"ignore"',
  ],
  [
    "mode 'dry-run'",
    () => createRateLimiter({ policies: policy, mode: 'dry-run' as never }),
    INVALID_OPTION,
    'mode',
    '"dry-run"',
  ],
  [
    'a hand-made policy object its factory would refuse',
    () => createRateLimiter({ policies: { kind: 'fixed-window', name: 'x', limit: 1, windowMs: 0 } }),
    INVALID_DURATION,
    'fixedWindow.window',
    '0',
  ],
  [
    'a limit of more than 15 digits (no RateLimit header could carry it)',
    () => fixedWindow({ limit: 1e15, window: '1 h' }),
    INVALID_OPTION,
    'fixedWindow.limit',
    '1000000000000000',
  ],
  [
    'a capacity of more than 15 digits',
    () => tokenBucket({ capacity: 1e15, refillRate: 1, interval: 1 }),
    INVALID_OPTION,
    'tokenBucket.capacity',
    '1000000000000000',
  ],
  [
    'a policy copied with a name its factory refuses',
    () => createRateLimiter({ policies: Object.freeze({ ...policy, name: 'route "/x"' }) }),
    INVALID_OPTION,
    'fixedWindow.name',
    '"route \\"/x\\""',
  ],
  [
    'a policy copied with a limit its factory refuses',
    () => createRateLimiter({ policies: Object.freeze({ ...policy, limit: 2.5 }) }),
    INVALID_OPTION,
    'fixedWindow.limit',
    '2.5',
  ],
  [
    'a token bucket copied with a refill rate of NaN',
    () =>
      createRateLimiter({
        policies: Object.freeze({
          ...tokenBucket({ capacity: 5, refillRate: 1, interval: '1 s' }),
          refillRate: Number.NaN,
        }),
      }),
    INVALID_OPTION,
    'tokenBucket.refillRate',
    'NaN',
  ],
  [
    'a policy copied with its window as a string',
    () => createRateLimiter({ policies: Object.freeze({ ...policy, windowMs: '1 m' as unknown as number }) }),
    INVALID_OPTION,
    'policies[0]',
    'an object',
  ],
  [
    'a policy copied without a name',
    () =>
      createRateLimiter({
        policies: [policy, Object.freeze({ ...policy, name: undefined as unknown as string })],
      }),
    INVALID_OPTION,
    'policies[1]',
    'an object',
  ],
  [
    'tiers given as a Map',
    () => createRateLimiter({ tiers: new Map([['free', [policy]]]) as never, defaultTier: 'free' }),
    INVALID_OPTION,
    'tiers',
    'got a Map; expected a plain object',
  ],
  [
    'logger null (false logs nothing)',
    () => createRateLimiter({ policies: policy, logger: null as never }),
    INVALID_OPTION,
    'logger',
    'got null; expected an object with a warn(message) method, or false to log nothing',
  ],
  [
    'a middleware ipv6Subnet of 0',
    () => resolveMiddlewareOptions({ policies: policy, ipv6Subnet: 0 }),
    INVALID_OPTION,
    'ipv6Subnet',
    'got 0; expected a whole number of bits from 1 to 128 (56 groups a typical home network)',
  ],
  [
    'a middleware key that is a string',
    () => resolveMiddlewareOptions({ policies: policy, key: 'user-1' as never }),
    INVALID_OPTION,
    'key',
    'got "user-1"; expected a function',
  ],
  [
    'a middleware onLimited that is a string',
    () => resolveMiddlewareOptions({ policies: policy, onLimited: 'json' as never }),
    INVALID_OPTION,
    'onLimited',
    'got "json"; expected a function',
  ],
  [
    'mode null',
    () => createRateLimiter({ policies: policy, mode: null as never }),
    INVALID_OPTION,
    'mode',
    'null',
  ],
  [
    'onStoreError null',
    () => createRateLimiter({ policies: policy, onStoreError: null as never }),
    INVALID_OPTION,
    'onStoreError',
    'null',
  ],
  [
    'onStoreFailure not a function',
    () => createRateLimiter({ policies: policy, onStoreFailure: 'log' as never }),
    INVALID_OPTION,
    'onStoreFailure',
    'a function',
  ],
  [
    'silenceWarnings null',
    () => createRateLimiter({ policies: policy, silenceWarnings: null as never }),
    INVALID_OPTION,
    'silenceWarnings',
    'null',
  ],
  // Either way round, nothing given is silently ignored.
  [
    'policies and tiers together',
    () => createRateLimiter({ policies: policy, tiers: { free: policy }, defaultTier: 'free' }),
    INVALID_OPTION,
    'policies',
    'not both',
  ],
  [
    'a defaultTier without tiers',
    () => createRateLimiter({ policies: policy, defaultTier: 'free' }),
    INVALID_OPTION,
    'defaultTier',
    'no defaultTier without `tiers`',
  ],
  [
    'no tier at all',
    () => createRateLimiter({ tiers: {}, defaultTier: 'free' }),
    INVALID_OPTION,
    'tiers',
    'at least one tier',
  ],
  // A store is checked at construction, not at the first request.
  [
    'a store without consume()',
    () => createRateLimiter({ policies: policy, store: {} as never }),
    INVALID_OPTION,
    'store',
    'got an object',
  ],
  [
    'store null',
    () => createRateLimiter({ policies: policy, store: null as never }),
    INVALID_OPTION,
    'store',
    'got null',
  ],
  [
    'policies []',
    () => createRateLimiter({ policies: [] }),
    INVALID_OPTION,
    'policies',
    'at least one policy',
  ],
  // A copy is taken (limiter-tiers.test.ts), but a field of the factory's options, which a policy
  // does not have, would be ignored.
  [
    'a copy of a policy with a field policies do not have',
    () => createRateLimiter({ policies: { ...policy, window: '1 h' } as never }),
    UNKNOWN_OPTION,
    'policies[0]',
    'Did you mean `windowMs`?',
  ],
  [
    'a frozen copy of a token bucket with a field policies do not have',
    () =>
      createRateLimiter({
        tiers: {
          free: policy,
          pro: [
            Object.freeze({
              ...tokenBucket({ capacity: 5, refillRate: 1, interval: '1 s' }),
              interval: '1 m',
            }),
          ],
        },
        defaultTier: 'free',
      } as never),
    UNKNOWN_OPTION,
    'tiers.pro[0]',
    'Did you mean `intervalMs`?',
  ],
  [
    'a frozen policy of an unknown kind',
    () =>
      createRateLimiter({
        policies: Object.freeze({ ...policy, kind: 'leaky-bucket' }) as never,
      }),
    INVALID_OPTION,
    'policies[0]',
    'fixedWindow()',
  ],
  [
    'a policy of a kind every object inherits',
    () => createRateLimiter({ policies: { ...policy, kind: 'constructor' } as never }),
    INVALID_OPTION,
    'policies[0]',
    'fixedWindow()',
  ],
  [
    'a null policy',
    () => createRateLimiter({ policies: [null as never] }),
    INVALID_OPTION,
    'policies[0]',
    'got null',
  ],
  [
    'a token bucket copied without a name',
    () =>
      createRateLimiter({
        policies: Object.freeze({
          ...tokenBucket({ capacity: 5, refillRate: 1, interval: '1 s' }),
          name: undefined as unknown as string,
        }),
      }),
    INVALID_OPTION,
    'policies[0]',
    'tokenBucket()',
  ],
  [
    'a token bucket copied with its interval as a string',
    () =>
      createRateLimiter({
        policies: Object.freeze({
          ...tokenBucket({ capacity: 5, refillRate: 1, interval: '1 s' }),
          intervalMs: '1 s' as unknown as number,
        }),
      }),
    INVALID_OPTION,
    'policies[0]',
    'tokenBucket()',
  ],
  [
    'a window copied with its length as a string',
    () => createRateLimiter({ policies: Object.freeze({ ...policy, windowMs: '1 s' as unknown as number }) }),
    INVALID_OPTION,
    'policies[0]',
    'slidingWindow()',
  ],
  [
    'an unknown defaultTier',
    () => createRateLimiter({ tiers: { free: policy }, defaultTier: 'fre' }),
    INVALID_OPTION,
    'defaultTier',
    '"fre"',
  ],
  [
    'fromUpstash without a window',
    () => fromUpstash({ limit: async () => ({}) } as never, {} as never),
    INVALID_DURATION,
    'fromUpstash.window',
    'undefined',
  ],
  [
    'fromUpstash with a bad name',
    () => fromUpstash({ limit: async () => ({}) } as never, { window: '1 m', name: 'a b' }),
    INVALID_OPTION,
    'fromUpstash.name',
    '"a b"',
  ],
  [
    'two policies with one name',
    () => createRateLimiter({ policies: [policy, fixedWindow({ limit: 9, window: '1 m' })] }),
    POLICY_CONFLICT,
    'policies',
    '"fixed-window"',
  ],
  [
    'options null',
    () => createRateLimiter(null as never),
    INVALID_OPTION,
    'createRateLimiter(options)',
    'null',
  ],
  ['options an array', () => fixedWindow([] as never), INVALID_OPTION, 'fixedWindow(options)', 'an array'],
  [
    'policy name a number',
    () => fixedWindow({ name: 12345 as unknown as string, limit: 1, window: 1 }),
    INVALID_OPTION,
    'fixedWindow.name',
    'got 12345',
  ],
  // The prefix grammar, edge by edge: printable ASCII (0x21-0x7e) but for `{` and `}`, 1 to 64 of them.
  [
    'prefix with a space',
    () => createRateLimiter({ policies: policy, prefix: 'a b' }),
    INVALID_OPTION,
    'prefix',
    '"a b"',
  ],
  [
    'prefix with {',
    () => createRateLimiter({ policies: policy, prefix: 'a{b' }),
    INVALID_OPTION,
    'prefix',
    '"a{b"',
  ],
  [
    'prefix with }',
    () => createRateLimiter({ policies: policy, prefix: 'a}b' }),
    INVALID_OPTION,
    'prefix',
    '"a}b"',
  ],
  ['prefix empty', () => createRateLimiter({ policies: policy, prefix: '' }), INVALID_OPTION, 'prefix', '""'],
  [
    'prefix of 65 characters',
    () => createRateLimiter({ policies: policy, prefix: 'p'.repeat(65) }),
    INVALID_OPTION,
    'prefix',
    `"${'p'.repeat(60)}…"`,
  ],
  [
    'prefix a number',
    () => createRateLimiter({ policies: policy, prefix: 123 as never }),
    INVALID_OPTION,
    'prefix',
    'got 123',
  ],
  // `undefined` takes a default; `null` is a value, and checked like any other.
  [
    'prefix null',
    () => createRateLimiter({ policies: policy, prefix: null as never }),
    INVALID_OPTION,
    'prefix',
    'got null',
  ],
  [
    'timeout null',
    () => createRateLimiter({ policies: policy, timeout: null as never }),
    INVALID_DURATION,
    'timeout',
    'got null',
  ],
  [
    'onStoreFailure null',
    () => createRateLimiter({ policies: policy, onStoreFailure: null as never }),
    INVALID_OPTION,
    'onStoreFailure',
    'got null',
  ],
  [
    "onStoreError 'Deny' (the words are exact)",
    () => createRateLimiter({ policies: policy, onStoreError: 'Deny' as never }),
    INVALID_OPTION,
    'onStoreError',
    '"Deny"',
  ],
  [
    "mode ''",
    () => createRateLimiter({ policies: policy, mode: '' as never }),
    INVALID_OPTION,
    'mode',
    'got ""',
  ],
  [
    'a copy of a sliding window with a field policies do not have',
    () =>
      createRateLimiter({
        policies: { ...slidingWindow({ limit: 5, window: '1 s' }), window: '1 h' } as never,
      }),
    UNKNOWN_OPTION,
    'policies[0]',
    'Did you mean `windowMs`?',
  ],
  // denyCache is checked whatever the store (a memory store never uses it), like every option.
  [
    'denyCache null',
    () => createRateLimiter({ policies: policy, denyCache: null as never }),
    INVALID_OPTION,
    'denyCache',
    'got null',
  ],
  [
    'denyCache.maxEntries null',
    () => createRateLimiter({ policies: policy, denyCache: { maxEntries: null as never } }),
    INVALID_OPTION,
    'denyCache.maxEntries',
    'got null',
  ],
  [
    'denyCache.maxEntries 2^53',
    () => createRateLimiter({ policies: policy, denyCache: { maxEntries: 2 ** 53 } }),
    INVALID_OPTION,
    'denyCache.maxEntries',
    'got 9007199254740992',
  ],
  [
    'memoryStore.clock not a function',
    () => memoryStore({ clock: 5 as never }),
    INVALID_OPTION,
    'memoryStore.clock',
    'got 5',
  ],
  [
    'memoryStore.clock null',
    () => memoryStore({ clock: null as never }),
    INVALID_OPTION,
    'memoryStore.clock',
    'got null',
  ],
  [
    'denyCache.clock not a function',
    () => createRateLimiter({ policies: policy, denyCache: { clock: 5 as never } }),
    INVALID_OPTION,
    'denyCache.clock',
    'got 5',
  ],
]

describe('configuration errors', () => {
  it.each(table)('%s throws at construction', (_what, construct, code, option, shown) => {
    let error: unknown
    try {
      construct()
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(FloodgateError)
    const e = error as FloodgateError
    expect(e.code).toBe(code)
    expect(e.message).toContain(`\`${option}\``)
    expect(e.message).toContain(shown)
    // GitHub's anchor of the code's heading in docs/errors.md (errors.test.ts holds it to the heading).
    expect(e.message).toContain(`#${code.toLowerCase()})`)
  })

  const unknown: [string, () => unknown, string, string][] = [
    ['fixedWindow', () => fixedWindow({ limit: 5, window: '1 s', windw: '1 s' } as never), 'windw', 'window'],
    [
      'tokenBucket',
      () => tokenBucket({ capacity: 5, refillRate: 1, interval: '1 s', refilRate: 2 } as never),
      'refilRate',
      'refillRate',
    ],
    ['slidingWindow', () => slidingWindow({ limit: 5, window: '1 s', Limit: 5 } as never), 'Limit', 'limit'],
    [
      'createRateLimiter',
      () => createRateLimiter({ policies: policy, prefx: 'x' } as never),
      'prefx',
      'prefix',
    ],
    ['createRateLimiter', () => createRateLimiter({ policy } as never), 'policy', 'policies'],
    ['createRateLimiter', () => createRateLimiter({ Policy: policy } as never), 'Policy', 'policies'],
    ['memoryStore', () => memoryStore({ maxkeys: 10 } as never), 'maxkeys', 'maxKeys'],
    // Up to 2 edits for a short name, a third of its length for a long one; the closest known wins.
    ['memoryStore', () => memoryStore({ clk: 1 } as never), 'clk', 'clock'],
    ['memoryStore', () => memoryStore({ CLOK: 1 } as never), 'CLOK', 'clock'],
    [
      'createRateLimiter',
      () => createRateLimiter({ policies: policy, sxlxncxWxrnings: [] } as never),
      'sxlxncxWxrnings',
      'silenceWarnings',
    ],
    ['createRateLimiter', () => createRateLimiter({ policies: policy, sore: 1 } as never), 'sore', 'store'],
    [
      'createRateLimiter',
      () => createRateLimiter({ policies: policy, prefixes: 'x' } as never),
      'prefixes',
      'prefix',
    ],
  ]
  it.each(unknown)('an unknown option name in %s is reported with a hint', (where, construct, name, hint) => {
    expect(construct).toThrow(
      expect.objectContaining({
        code: UNKNOWN_OPTION,
        option: name,
        value: name,
        message: expect.stringContaining(`"${name}" in ${where}(). Did you mean \`${hint}\`?`),
      }),
    )
  })

  it('accepts a timeout up to 2^31 - 1 ms, the longest delay a Node.js timer keeps, and refuses 1 ms more', async () => {
    const limiter = createRateLimiter({ policies: policy, timeout: 2_147_483_647 })
    expect(limiter.config.timeoutMs).toBe(2_147_483_647)
    await limiter.close()
    expect(() => createRateLimiter({ policies: policy, timeout: 2_147_483_648 })).toThrow(
      expect.objectContaining({ code: INVALID_OPTION, option: 'timeout' }),
    )
  })

  it('accepts a prefix of 1 or 64 characters, from `!` to `~` but for the braces', async () => {
    for (const prefix of ['!', '~', 'p'.repeat(64), 'a|b~c!z', 'A-Z_a.z:0/9']) {
      const limiter = createRateLimiter({ policies: policy, prefix })
      expect(limiter.config.prefix).toBe(prefix)
      await limiter.close()
    }
  })

  it('accepts a limit of exactly 999,999,999,999,999, the most a RateLimit header field carries', () => {
    expect(fixedWindow({ limit: 999_999_999_999_999, window: 1 }).limit).toBe(999_999_999_999_999)
  })

  it('accepts a policy name of 1 or of 64 characters, of every character the grammar allows', () => {
    expect(fixedWindow({ name: 'n', limit: 1, window: 1 }).name).toBe('n')
    expect(slidingWindow({ name: 'Az09_.-', limit: 1, window: 1 }).name).toBe('Az09_.-')
    expect(tokenBucket({ name: 'n'.repeat(64), capacity: 1, refillRate: 1, interval: 1 }).name).toBe(
      'n'.repeat(64),
    )
  })

  it('says why a whole number past 2^53 is refused: its size', () => {
    expect(() => fixedWindow({ limit: 1e16, window: '1 s' })).toThrow(
      /got 10000000000000000; expected at most 999,999,999,999,999/,
    )
    expect(() => tokenBucket({ capacity: 5, refillRate: 2 ** 53, interval: '1 s' })).toThrow(
      /got 9007199254740992; expected a whole number from 1 to 9,007,199,254,740,991/,
    )
    expect(() => fixedWindow({ limit: -1e16, window: '1 s' })).toThrow(
      /expected a whole number of at least 1/,
    )
    expect(() => tokenBucket({ capacity: 0, refillRate: 1, interval: '1 s' })).toThrow(
      /got 0; expected a whole number of at least 1\./,
    )
    // A fraction is refused for being one, not for its size.
    expect(() => fixedWindow({ limit: 1.5, window: '1 s' })).toThrow(
      /got 1\.5; expected a whole number of at least 1\./,
    )
  })

  // A migrating user passes the options of the limiter they leave: the fix, not the nearest name.
  const peers: [string, () => unknown, string, RegExp][] = [
    [
      'windowMs',
      () => resolveMiddlewareOptions({ policies: policy, windowMs: 60_000 } as never),
      'rateLimit()',
      /Limits are policies: `policies: fixedWindow\(/,
    ],
    ['limit', () => resolveMiddlewareOptions({ limit: 100 } as never), 'rateLimit()', /Limits are policies/],
    [
      'max',
      () => createRateLimiter({ policies: policy, max: 5 } as never),
      'createRateLimiter()',
      /Limits are policies/,
    ],
    [
      'keyGenerator',
      () => resolveMiddlewareOptions({ policies: policy, keyGenerator: () => 'k' } as never),
      'rateLimit()',
      /The key is `key\(req\)` \(Koa: `key\(ctx\)`\)/,
    ],
    [
      'handler',
      () => resolveMiddlewareOptions({ policies: policy, handler: () => {} } as never),
      'rateLimit()',
      /replaced with `onLimited`/,
    ],
    [
      'standardHeaders',
      () => resolveMiddlewareOptions({ policies: policy, standardHeaders: true } as never),
      'rateLimit()',
      /`headers: \['draft-8', 'legacy'\]`/,
    ],
    [
      'whitelist',
      () => resolveMiddlewareOptions({ policies: policy, whitelist: () => false } as never),
      'rateLimit()',
      /`skip\(req\)` \(Koa: `skip\(ctx\)`\) returns true for/,
    ],
    [
      'skipOnError',
      () => createRateLimiter({ policies: policy, skipOnError: true } as never),
      'createRateLimiter()',
      /`onStoreError: 'allow' \| 'deny'`/,
    ],
    [
      'nameSpace',
      () => createRateLimiter({ policies: policy, nameSpace: 'x' } as never),
      'createRateLimiter()',
      /The key prefix is `prefix`/,
    ],
    [
      'skipSuccessfulRequests',
      () => resolveMiddlewareOptions({ policies: policy, skipSuccessfulRequests: true } as never),
      'rateLimit()',
      /refunds nothing/,
    ],
    [
      'duration',
      () => createRateLimiter({ policies: policy, duration: 60 } as never),
      'createRateLimiter()',
      /`duration: 60` is `window: '60 s'`/,
    ],
    [
      'blockDuration',
      () => createRateLimiter({ policies: policy, blockDuration: 60 } as never),
      'createRateLimiter()',
      /There is no block/,
    ],
    [
      'execEvenly',
      () => resolveMiddlewareOptions({ policies: policy, execEvenly: true } as never),
      'rateLimit()',
      /never delays a request/,
    ],
    [
      'inMemoryBlockOnConsumed',
      () => createRateLimiter({ policies: policy, inMemoryBlockOnConsumed: 6 } as never),
      'createRateLimiter()',
      /`denyCache`/,
    ],
    [
      'insuranceLimiter',
      () => createRateLimiter({ policies: policy, insuranceLimiter: {} } as never),
      'createRateLimiter()',
      /no fallback limiter/,
    ],
    // rate-limiter-flexible's SQL and MongoDB stores: the way to a store of one's own, by the export's name.
    [
      'storeType',
      () => createRateLimiter({ policies: policy, storeType: 'knex' } as never),
      'createRateLimiter()',
      /implements `RateLimitStore` and passes `runStoreConformance` from `@floodgate\/core\/testing`/,
    ],
  ]
  it.each(peers)(
    "another rate limiter's option %s gets its fix, not the nearest name",
    (name, construct, where, fix) => {
      let error: unknown
      try {
        construct()
      } catch (e) {
        error = e
      }
      expect(error).toMatchObject({ code: UNKNOWN_OPTION, option: name })
      const { message } = error as FloodgateError
      expect(message).toContain(`Unknown option "${name}" in ${where}. It is another rate limiter's option.`)
      expect(message).toMatch(fix)
      expect(message).toContain('See docs/migrating.')
      expect(message).not.toContain('Did you mean')
    },
  )

  // A policy's own options given to the limiter or the middleware (`createRateLimiter({ limit: 5,
  // window: '1 m' })`): Floodgate's names at the wrong level, not another rate limiter's.
  const policyOptions: [string, () => unknown, string][] = [
    ['window', () => createRateLimiter({ window: '1 m' } as never), 'createRateLimiter()'],
    ['capacity', () => resolveMiddlewareOptions({ capacity: 10 } as never), 'rateLimit()'],
    [
      'refillRate',
      () => createRateLimiter({ policies: policy, refillRate: 5 } as never),
      'createRateLimiter()',
    ],
    [
      'interval',
      () => createRateLimiter({ policies: policy, interval: '1 s' } as never),
      'createRateLimiter()',
    ],
  ]
  it.each(policyOptions)(
    "a policy's option %s given to %s says it belongs in a policy",
    (name, construct, where) => {
      let error: unknown
      try {
        construct()
      } catch (e) {
        error = e
      }
      expect(error).toMatchObject({ code: UNKNOWN_OPTION, option: name })
      const { message } = error as FloodgateError
      expect(message).toContain(
        `Unknown option "${name}" in ${where}. It is a policy's option: \`policies: tokenBucket(`,
      )
      expect(message).toContain('See docs/algorithms.md.')
      expect(message).not.toContain("another rate limiter's option")
      expect(message).not.toContain('Did you mean')
    },
  )

  // errors.md promises the Floodgate way to say every option the migration guides map: the first
  // table of each guide lists the peer's options, one or more per row in its first column.
  it.each([
    ['from-express-rate-limit.md', []],
    ['from-fastify-rate-limit.md', ['global']],
    ['from-koa-ratelimit.md', []],
    ['from-rate-limiter-flexible.md', []],
  ])('every option %s maps is Floodgate’s own or gets its hint', (guide, adapterOptions) => {
    const text = readFileSync(new URL(`../../../docs/migrating/${guide}`, import.meta.url), 'utf8')
    const table = text.slice(text.indexOf('\n|')).split('\n\n')[0]!
    const names = new Set<string>()
    for (const row of table.split('\n').slice(2)) {
      const cell = row.split('|')[1]!.replace(/\([^)]*\)/g, '')
      for (const [, name] of cell.matchAll(/`([a-z][A-Za-z0-9]*)(?![A-Za-z0-9.(])[^`]*`/g)) {
        if (name !== 'true' && name !== 'false') names.add(name!)
      }
    }
    expect(names.size).toBeGreaterThan(10)
    const unhinted = [...names].filter((name) => {
      try {
        resolveMiddlewareOptions({ policies: policy, [name]: 1 } as never, adapterOptions)
      } catch (error) {
        return (
          (error as FloodgateError).code === UNKNOWN_OPTION &&
          !(error as Error).message.includes("It is another rate limiter's option.")
        )
      }
      return false
    })
    expect(unhinted).toEqual([])
  })

  it('gives no hint when nothing known is close', () => {
    expect(() => memoryStore({ completelyDifferent: 1 } as never)).toThrow(/Known options: maxKeys, clock\./)
    expect(() => memoryStore({ completelyDifferent: 1 } as never)).not.toThrow(/Did you mean/)
    // A name every object inherits is no other rate limiter's option either.
    expect(() => memoryStore({ toString: 1 } as never)).toThrow(
      /"toString" in memoryStore\(\)\. Known options/,
    )
    // 3 edits from `clock`, 5 from every option (a third of 12 characters is 4).
    expect(() => memoryStore({ ck: 1 } as never)).toThrow(/"ck" in memoryStore\(\)\. Known options/)
    expect(() => createRateLimiter({ policies: policy, onStorxxxxxx: 1 } as never)).toThrow(
      /"onStorxxxxxx" in createRateLimiter\(\)\. Known options/,
    )
  })
})
