import { describe, expect, it } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { memoryStore } from '../stores/memory-store.js'
import { manualClock } from '../testing/manual-clock.js'
import {
  createRateLimitHandler,
  FORWARDED_CHECKS,
  type RequestBinding,
  UNKNOWN_CLIENT_KEY,
} from './request-handler.js'

// The forwarded-header warning reads each request's headers until a request carrying one settles
// it, or until FORWARDED_CHECKS requests have carried none; after that no request pays for it.

interface FakeRequest {
  headers: Record<string, string>
}

/** `read`: the header the framework reads the client address from (`forwardedHeader`), if not the default. */
function setup(trust: 'none' | 'one hop' | 'every hop', read?: string) {
  const warnings: string[] = []
  let headerReads = 0
  const binding: RequestBinding<FakeRequest> = {
    ip: () => '192.0.2.7',
    headers: (req) => {
      headerReads++
      return req.headers
    },
    trustsProxy: () => trust !== 'none',
    trustsEveryHop: () => trust === 'every hop',
    ...(read === undefined ? {} : { forwardedHeader: () => read }),
  }
  const handler = createRateLimitHandler(
    {
      policies: fixedWindow({ limit: 1e9, window: '1 m' }),
      logger: { warn: (message) => warnings.push(message) },
    },
    binding,
  )
  const send = (count: number, headers: Record<string, string> = {}) => {
    for (let i = 0; i < count; i++) handler.decideNow({ headers })
  }
  return { send, warnings, reads: () => headerReads }
}

const forged = { 'x-forwarded-for': '198.51.100.1' }

/** A limiter on a store whose clock stands still (a peek finds the same window), and what it logs. */
function loggedLimiter(limit: number) {
  const warnings: string[] = []
  const limiter = createRateLimiter({
    policies: fixedWindow({ limit, window: '1 m' }),
    store: memoryStore({ clock: manualClock(1_700_000_000_000) }),
    logger: { warn: (message) => warnings.push(message) },
  })
  return { limiter, warnings }
}

describe('the forwarded-header check', () => {
  it('stops after FORWARDED_CHECKS requests that carried no forwarding header', () => {
    const s = setup('none')
    // docs/security.md and docs/errors.md: a middleware's first 10,000 requests.
    expect(FORWARDED_CHECKS).toBe(10_000)
    s.send(10_000)
    expect(s.reads()).toBe(10_000)
    s.send(100, forged)
    expect(s.reads()).toBe(10_000)
    expect(s.warnings).toEqual([])
  })

  it('warns at the first forged header before then, once, and stops reading', () => {
    const s = setup('none')
    s.send(5)
    s.send(3, forged)
    s.send(10)
    expect(s.reads()).toBe(6)
    expect(s.warnings).toHaveLength(1)
    expect(s.warnings[0]).toContain('FORWARDED_HEADER_IGNORED')
  })

  it('is settled by the first forwarded request behind a proxy trusted for one hop: no warning', () => {
    const s = setup('one hop')
    s.send(3, forged)
    expect(s.reads()).toBe(1)
    expect(s.warnings).toEqual([])
  })

  it('warns once when every hop is trusted', () => {
    const s = setup('every hop')
    s.send(3, forged)
    expect(s.reads()).toBe(1)
    expect(s.warnings).toHaveLength(1)
    expect(s.warnings[0]).toContain('PERMISSIVE_TRUST_PROXY')
  })

  it('counts a forwarded request without a peer address under unknown-client, naming no untrusted peer', async () => {
    for (const address of [undefined, '']) {
      const { limiter, warnings } = loggedLimiter(5)
      // Proxies trusted, but not this peer (a unix socket has no address at all).
      const binding: RequestBinding<FakeRequest> = {
        ip: () => address,
        headers: (req) => req.headers,
        trustsProxy: () => true,
        trustsEveryHop: () => false,
        usedForwarded: () => false,
      }
      const handler = createRateLimitHandler({ limiter }, binding)
      expect((await handler.decide({ headers: forged }))?.remaining).toBe(4)
      // Counted there: a peek answers as the next request would be, one more taken.
      expect((await limiter.peek(UNKNOWN_CLIENT_KEY)).remaining).toBe(3)
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain('UNKNOWN_CLIENT_IP')
      expect(warnings[0]).toContain('counted under the shared "unknown-client" identifier')
      await limiter.close()
    }
  })

  // docs/security.md §1: "middlewares sharing one `limiter:` log it once between them; one with a
  // `key` of its own does not look".
  it('warns once between middlewares that share a limiter', async () => {
    const { limiter, warnings } = loggedLimiter(100)
    const binding: RequestBinding<FakeRequest> = {
      ip: () => '192.0.2.7',
      headers: (req) => req.headers,
      trustsProxy: () => false,
    }
    const app = createRateLimitHandler({ limiter }, binding)
    const route = createRateLimitHandler({ limiter }, binding)
    await app.decide({ headers: forged })
    await route.decide({ headers: forged })
    expect(warnings).toEqual([expect.stringContaining('WARN_FLOODGATE_FORWARDED_HEADER_IGNORED')])
    await limiter.close()
  })

  it('reads no header and warns of nothing for a middleware with a key of its own', async () => {
    const { limiter, warnings } = loggedLimiter(100)
    let headerReads = 0
    const binding: RequestBinding<FakeRequest> = {
      ip: () => '192.0.2.7',
      headers: (req) => {
        headerReads++
        return req.headers
      },
      trustsProxy: () => false,
    }
    const handler = createRateLimitHandler({ limiter, key: () => 'account:1' }, binding)
    for (let i = 0; i < 3; i++) expect((await handler.decide({ headers: forged }))?.allowed).toBe(true)
    expect(headerReads).toBe(0)
    expect(warnings).toEqual([])
    await limiter.close()
  })
})

describe('a framework reading another header than X-Forwarded-For (Koa app.proxyIpHeader)', () => {
  const reading = (read: string, everyHop: boolean) => setup(everyHop ? 'every hop' : 'one hop', read)

  it('is settled by the first request carrying the header it reads: no warning', () => {
    const s = reading('x-real-ip', false)
    s.send(3, { 'x-real-ip': '198.51.100.1' })
    expect(s.reads()).toBe(1)
    expect(s.warnings).toEqual([])
  })

  it('warns once of X-Forwarded-For arriving instead, naming both headers and the Koa setting', () => {
    const s = reading('x-real-ip', false)
    s.send(3, forged)
    expect(s.reads()).toBe(1)
    expect(s.warnings).toHaveLength(1)
    expect(s.warnings[0]).toContain('FORWARDED_HEADER_IGNORED')
    expect(s.warnings[0]).toContain('carries X-Forwarded-For but no x-real-ip')
    expect(s.warnings[0]).toContain("or set Koa's app.proxyIpHeader to the header it sends")
    // Both sent: the warning names X-Forwarded-For.
    const both = reading('x-real-ip', false)
    both.send(1, { ...forged, forwarded: 'for=198.51.100.1' })
    expect(both.warnings).toEqual([expect.stringContaining('carries X-Forwarded-For but no x-real-ip')])
  })

  it("says the framework reads no header when it names none (Koa's app.proxyIpHeader set to '')", () => {
    for (const everyHop of [false, true]) {
      const s = reading('', everyHop)
      s.send(3, forged)
      expect(s.warnings).toHaveLength(1)
      expect(s.warnings[0]).toContain('FORWARDED_HEADER_IGNORED')
      expect(s.warnings[0]).toContain('reads the client address from no header')
      expect(s.warnings[0]).toContain("Set Koa's app.proxyIpHeader to the header the proxy sends.")
    }
  })

  it('warns of Forwarded alone, which no framework reads, as ignored even where every hop is trusted', () => {
    for (const read of ['x-forwarded-for', 'x-real-ip']) {
      const s = reading(read, true)
      s.send(1, { forwarded: 'for=198.51.100.1' })
      expect(s.warnings).toHaveLength(1)
      expect(s.warnings[0]).toContain('FORWARDED_HEADER_IGNORED')
      expect(s.warnings[0]).toContain(`carries Forwarded but no ${read}, `)
      expect(s.warnings[0]).not.toContain('proxyIpHeader')
    }
  })
})
