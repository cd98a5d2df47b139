import { describe, expect, it } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import { LIMITER_OPTIONS } from '../limiter-options.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { memoryStore } from '../stores/memory-store.js'
import { checkMiddlewareOptions, resolveMiddlewareOptions } from './middleware-options.js'
import { createRateLimitHandler } from './request-handler.js'

const policies = fixedWindow({ limit: 5, window: '1 m' })

describe('resolveMiddlewareOptions', () => {
  it('builds a limiter from the limiter options, with the documented defaults', () => {
    const resolved = resolveMiddlewareOptions({ policies })
    expect(resolved.limiter.config.tiers.get('')).toEqual([policies])
    expect(resolved.headerFormats).toEqual(['draft-8', 'legacy'])
    expect(resolved.ipv6Subnet).toBe(56)
  })

  it('uses a given limiter as it is', () => {
    const limiter = createRateLimiter({ policies })
    expect(resolveMiddlewareOptions({ limiter, headers: false }).limiter).toBe(limiter)
  })

  it('hands on the callbacks given, each as it is', () => {
    const key = () => 'user-1'
    const tier = () => 'pro'
    const cost = () => 2
    const skip = () => false
    const onLimited = () => {}
    const resolved = resolveMiddlewareOptions({ policies, key, tier, cost, skip, onLimited })
    expect(resolved.key).toBe(key)
    expect(resolved.tier).toBe(tier)
    expect(resolved.cost).toBe(cost)
    expect(resolved.skip).toBe(skip)
    expect(resolved.onLimited).toBe(onLimited)
  })

  it('rejects limiter options beside a given limiter, naming the option', () => {
    const limiter = createRateLimiter({ policies })
    expect(() => resolveMiddlewareOptions({ limiter, policies })).toThrow(
      expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', option: 'policies' }),
    )
    expect(() => resolveMiddlewareOptions({ limiter, prefix: 'api' })).toThrow(
      'Invalid `prefix`: got "api" together with `limiter`; a given limiter keeps its own configuration, so pass `prefix` where it was made (createRateLimiter(), fromUpstash()) instead.',
    )
    // Every limiter option, a false one too (`logger: false`): none is silently dropped.
    for (const option of LIMITER_OPTIONS) {
      expect(() => resolveMiddlewareOptions({ limiter, [option]: false })).toThrow(
        expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', option }),
      )
    }
    expect(() => resolveMiddlewareOptions({ limiter: {} as never })).toThrow(
      expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', option: 'limiter' }),
    )
  })

  it('rejects, when created, a given limiter without the config and warnings the middleware reads', () => {
    const real = createRateLimiter({ policies })
    const limit = (id: string) => real.limit(id)
    for (const limiter of [
      null,
      Object.assign(() => {}, { limit, config: real.config, warnings: real.warnings }),
      { config: real.config, warnings: real.warnings },
      { limit: 'limit', config: real.config, warnings: real.warnings },
      { limit, config: real.config, warnings: null },
      { limit },
      { limit, config: real.config },
      { limit, warnings: real.warnings },
      { limit, config: null, warnings: real.warnings },
      { limit, config: real.config, warnings: {} },
    ]) {
      expect(() => resolveMiddlewareOptions({ limiter: limiter as never })).toThrow(
        expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', option: 'limiter' }),
      )
    }
    // A wrapper that carries them is a limiter.
    const wrapper = { ...real, limit, peek: real.peek, reset: real.reset, close: real.close }
    expect(resolveMiddlewareOptions({ limiter: wrapper }).limiter).toBe(wrapper)
  })

  it('names the options argument of the call when the options are not an object', () => {
    for (const [where, named] of [
      [undefined, 'rateLimit(options)'],
      ['fastifyRateLimit()', 'fastifyRateLimit(options)'],
      ['the config.rateLimit of route GET /', 'the config.rateLimit of route GET /'],
    ] as const) {
      expect(() => resolveMiddlewareOptions(null as never, [], where)).toThrow(
        expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', option: named }),
      )
      expect(() => checkMiddlewareOptions(null as never, [], where)).toThrow(
        expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', option: named }),
      )
    }
  })

  it('rejects an unknown option with the closest known name', () => {
    expect(() => resolveMiddlewareOptions({ policies, onLimted: () => {} } as never)).toThrow(
      /Unknown option "onLimted" in rateLimit\(\)\. Did you mean `onLimited`\?/,
    )
    // Named by the call it was given to.
    expect(() =>
      resolveMiddlewareOptions({ policies, onLimted: () => {} } as never, [], 'fastifyRateLimit()'),
    ).toThrow(/Unknown option "onLimted" in fastifyRateLimit\(\)\. Did you mean `onLimited`\?/)
  })

  it('takes a request-shaped argument for a request only when it has a name no option has', () => {
    // A request or a Koa context there means `app.use(rateLimit)`: named as such, with the fix.
    const request = { socket: {}, headers: {}, method: 'GET', _events: {} }
    expect(() => checkMiddlewareOptions(request)).toThrow(
      expect.objectContaining({
        code: 'ERR_FLOODGATE_INVALID_OPTION',
        message: expect.stringMatching(
          /^Invalid `rateLimit\(options\)`: got a request, so `rateLimit` itself was mounted/,
        ),
      }),
    )
    // Options that inherit those names but have only known ones of their own are options.
    const options = Object.assign(Object.create({ socket: {}, method: 'GET' }), { policies, headers: false })
    expect(resolveMiddlewareOptions(options).headerFormats).toEqual([])
    // It takes all three of a request's names: options with an unknown name and two of them (one,
    // `headers`, is an option) have that name reported as unknown.
    for (const [unknown, given] of [
      ['method', { headers: false, method: 'GET' }],
      ['socket', { socket: {}, method: 'GET' }],
      ['socket', { socket: {}, headers: false }],
    ] as const) {
      expect(() => checkMiddlewareOptions(given)).toThrow(
        expect.objectContaining({ code: 'ERR_FLOODGATE_UNKNOWN_OPTION', option: unknown }),
      )
    }
    // Where the options are no call's argument (a route's config.rateLimit), nothing was mounted.
    expect(() => checkMiddlewareOptions(request, [], 'the config.rateLimit of route GET /')).toThrow(
      expect.objectContaining({ code: 'ERR_FLOODGATE_UNKNOWN_OPTION', option: 'socket' }),
    )
  })

  it('accepts the names an adapter handles itself', () => {
    expect(() => checkMiddlewareOptions({ global: false }, ['global'])).not.toThrow()
    // And the limiter built from the same options takes them for the adapter's, not unknown.
    expect(() => resolveMiddlewareOptions({ policies, global: false } as never, ['global'])).not.toThrow()
    expect(() => checkMiddlewareOptions({ global: false })).toThrow(
      expect.objectContaining({ code: 'ERR_FLOODGATE_UNKNOWN_OPTION' }),
    )
  })

  it('accepts every ipv6Subnet from 1 to 128, both bounds included', () => {
    for (const ipv6Subnet of [1, 2, 64, 127, 128]) {
      expect(resolveMiddlewareOptions({ policies, ipv6Subnet }).ipv6Subnet).toBe(ipv6Subnet)
    }
  })

  it('rejects a bad ipv6Subnet, headers value or callback', () => {
    for (const bad of [
      { ipv6Subnet: 0 },
      { ipv6Subnet: 129 },
      { ipv6Subnet: null },
      { ipv6Subnet: '56' },
      { ipv6Subnet: Number.NaN },
      { headers: 'draft-9' },
      { headers: true },
      { key: 'user-1' },
      { tier: 'pro' },
      { cost: 2 },
      { skip: true },
      { onLimited: 'json' },
      { key: null },
      { tier: null },
      { cost: null },
      { skip: null },
      { onLimited: null },
    ]) {
      expect(() => resolveMiddlewareOptions({ policies, ...bad } as never)).toThrow(
        expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION' }),
      )
    }
  })
})

describe('createRateLimitHandler', () => {
  const binding = { ip: () => '192.0.2.1', headers: () => ({}), trustsProxy: () => false }

  it('refuses, when created, a request binding missing a method, which would fail its first request', () => {
    for (const [given, option] of [
      [{ ip: binding.ip }, 'binding.headers'],
      [{ ...binding, ip: '192.0.2.1' }, 'binding.ip'],
      [{ ip: binding.ip, headers: binding.headers }, 'binding.trustsProxy'],
      [{ ...binding, marks: {} }, 'binding.marks'],
      [{ ...binding, trustsEveryHop: true }, 'binding.trustsEveryHop'],
      [{ ...binding, usedForwarded: false }, 'binding.usedForwarded'],
      [{ ...binding, forwardedHeader: 'x-real-ip' }, 'binding.forwardedHeader'],
      [{ ...binding, requestFrames: 'Layer.handle' }, 'binding.requestFrames'],
      [null, 'binding.ip'],
    ] as const) {
      expect(() => createRateLimitHandler({ policies, logger: false }, given as never)).toThrow(
        expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', option }),
      )
    }
    // Refused before the options made a limiter: nothing is left open, so a shared store warns of nothing.
    const store = memoryStore()
    const lines: string[] = []
    const logger = { warn: (line: string) => void lines.push(line) }
    expect(() => createRateLimitHandler({ policies, store, logger }, { ip: binding.ip } as never)).toThrow()
    expect(createRateLimitHandler({ policies, store, logger }, binding).limiter.config.prefix).toBe(
      'floodgate',
    )
    expect(lines).toEqual([])
  })
})
