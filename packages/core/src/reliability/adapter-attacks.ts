import { describe, expect, it } from 'vitest'
import type { BehaviourResponse } from '../testing/adapter-behaviour.js'
import { behaviourFixture, perMinute } from '../testing/adapter-fixture.js'
import { HOSTILE_IDENTIFIERS } from './hostile-identifiers.js'

// Identity attacks through the real adapters (issue #5): forged forwarding headers, IPv6 rotation,
// one address spelled many ways, hostile identifiers. One table, run by every adapter's
// `*attacks.test.ts` with a few-line driver.

/**
 * Which forwarding hops the framework trusts. Requests come from 127.0.0.1, standing for the proxy.
 * - `none`: no proxy trusted (the default of every framework);
 * - `one-hop`: exactly the one proxy in front (Express `trust proxy` 1, Koa `proxy` + `maxIpsCount`
 *   1, Fastify `trustProxy` 1): the right-most X-Forwarded-For entry is the client;
 * - `every-hop`: every hop trusted (Express `true`, Koa `proxy` alone, Fastify `true`): a misconfiguration.
 */
export type ProxyTrust = 'none' | 'one-hop' | 'every-hop'

/** Builds one framework's app for the identity-attack table (see `runAdapterAttacks`). */
export interface AttackDriver {
  /** Shown in test names, e.g. `"express 5"`. */
  name: string
  /** Serves GET `/` behind one app-wide limiter made with `options`, trusting proxies as told. */
  start(options: Record<string, unknown>, proxy: ProxyTrust): Promise<AttackServer>
}

/** A running app of the attack table. */
export interface AttackServer {
  /** Sends GET `/` over loopback with these request headers. */
  get(headers?: Record<string, string>): Promise<BehaviourResponse>
  /** Stops the server and closes its limiter. */
  close(): Promise<void>
}

interface Attack {
  name: string
  proxy: ProxyTrust
  /** Extra middleware options (merged into a 100-per-minute fixed window on a fixture store). */
  options?: Record<string, unknown>
  run(server: AttackServer, warnings: string[]): Promise<void>
}

const LIMIT = 100
const countdown = (n: number, from = LIMIT - 1) => Array.from({ length: n }, (_, i) => from - i)

/** X-RateLimit-Remaining of each request, which must all be answered 200. */
async function remainingOfEach(server: AttackServer, requests: Record<string, string>[]): Promise<number[]> {
  const result: number[] = []
  for (const headers of requests) {
    const r = await server.get(headers)
    expect(r.status, JSON.stringify(headers)).toBe(200)
    result.push(Number(r.headers.get('x-ratelimit-remaining')))
  }
  return result
}

const xff = (value: string) => ({ 'x-forwarded-for': value })
const FORGED = [
  '198.51.100.1',
  '198.51.100.2',
  '2001:db8::7',
  '203.0.113.9',
  'not-an-ip',
  '10.0.0.1',
  '::ffff:198.51.100.3',
]

/** `count` addresses spread over the /`bits` subnet starting at `base` (eight groups, hex). */
function addressesIn(base: number[], bits: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const groups = base.map((g, j) => {
      const fixed = Math.min(16, Math.max(0, bits - 16 * j))
      const free = (1 << (16 - fixed)) - 1
      return (g & ~free & 0xffff) | ((i * 7919 + j * 104729) & free)
    })
    return groups.map((g) => g.toString(16)).join(':')
  })
}

const attacks: Attack[] = [
  {
    name: 'proxies not trusted: forged X-Forwarded-For and Forwarded values all share the socket address bucket, with one warning',
    proxy: 'none',
    run: async (server, warnings) => {
      const requests = [
        ...FORGED.map(xff),
        ...FORGED.map((ip) => ({ forwarded: `for="${ip}"` })),
        ...FORGED.map((ip) => ({ 'x-forwarded-for': `${ip}, 203.0.113.7`, 'x-real-ip': ip })),
      ]
      expect(await remainingOfEach(server, requests)).toEqual(countdown(requests.length))
      expect(warnings.filter((w) => w.includes('FLOODGATE_FORWARDED_HEADER_IGNORED'))).toHaveLength(1)
    },
  },
  {
    name: 'one trusted hop: rotating forged left-most X-Forwarded-For values stays in the bucket of the address the proxy appended',
    proxy: 'one-hop',
    run: async (server, warnings) => {
      const forged = FORGED.flatMap((ip) => [xff(`${ip}, 203.0.113.7`), xff(`${ip}, 10.1.1.1, 203.0.113.7`)])
      expect(await remainingOfEach(server, forged)).toEqual(countdown(forged.length))
      // Another client behind the same proxy is not merged with the first.
      expect(await remainingOfEach(server, [xff('198.51.100.1, 203.0.113.8')])).toEqual([99])
      // A forged Forwarded header is not what the framework reads: still the appended address.
      const forwarded = FORGED.map((ip) => ({ forwarded: `for="${ip}"`, ...xff('203.0.113.7') }))
      expect(await remainingOfEach(server, forwarded)).toEqual(
        countdown(forwarded.length, 99 - forged.length),
      )
      expect(warnings.filter((w) => w.includes('FORWARDED_HEADER_IGNORED'))).toEqual([])
    },
  },
  {
    name: 'every hop trusted (a misconfiguration): the forged left-most value picks the bucket, which is why the docs say trust one hop',
    proxy: 'every-hop',
    run: async (server) => {
      const forged = ['198.51.100.1', '198.51.100.2', '198.51.100.3'].map((ip) => xff(`${ip}, 203.0.113.7`))
      expect(await remainingOfEach(server, forged)).toEqual([99, 99, 99])
    },
  },
  {
    name: 'IPv6: 60 addresses rotating inside one /56 share a bucket; the neighbouring /56s are apart',
    proxy: 'one-hop',
    run: async (server) => {
      const inside = addressesIn([0x2001, 0xdb8, 0xab, 0xcd00, 0, 0, 0, 0], 56, 60)
      expect(new Set(inside).size).toBe(60)
      expect(await remainingOfEach(server, inside.map(xff))).toEqual(countdown(60))
      const neighbours = ['2001:db8:ab:ccff:ffff:ffff:ffff:ffff', '2001:db8:ab:ce00::', '2001:db8:ab:cdff::1']
      expect(await remainingOfEach(server, neighbours.map(xff))).toEqual([99, 99, 39])
    },
  },
  {
    name: 'IPv6 with ipv6Subnet 64: rotation inside one /64 shares a bucket; another /64 of the same /56 is apart',
    proxy: 'one-hop',
    options: { ipv6Subnet: 64 },
    run: async (server) => {
      const inside = addressesIn([0x2001, 0xdb8, 1, 2, 0, 0, 0, 0], 64, 40)
      expect(await remainingOfEach(server, inside.map(xff))).toEqual(countdown(40))
      expect(await remainingOfEach(server, ['2001:db8:1:3::1', '2001:db8:1:2:ffff::'].map(xff))).toEqual([
        99, 59,
      ])
    },
  },
  {
    name: 'one address spelled many ways (case, zero padding, :: placement, brackets, zone id, IPv4-mapped) is one client',
    proxy: 'one-hop',
    options: { ipv6Subnet: 128 },
    run: async (server) => {
      const v6 = [
        '2001:db8:ab:cd12::1',
        '2001:DB8:AB:CD12::1',
        '2001:0db8:00ab:cd12:0000:0000:0000:0001',
        '2001:db8:ab:cd12:0:0:0:1',
        '2001:db8:ab:cd12:0::1',
        '2001:db8:ab:cd12::0:0:1',
        '[2001:db8:ab:cd12::1]',
      ]
      expect(await remainingOfEach(server, v6.map(xff))).toEqual(countdown(v6.length))
      const linkLocal = ['fe80::1%eth0', 'fe80::1%2', 'FE80:0:0:0:0:0:0:1', 'fe80::1']
      expect(await remainingOfEach(server, linkLocal.map(xff))).toEqual(countdown(linkLocal.length))
      const v4 = [
        '203.0.113.5',
        '::ffff:203.0.113.5',
        '::FFFF:CB00:7105',
        '0:0:0:0:0:ffff:cb00:7105',
        '::ffff:0:203.0.113.5',
      ]
      // The last one is IPv4-translated (RFC 2765), not mapped: a different IPv6 address.
      expect(await remainingOfEach(server, v4.map(xff))).toEqual([...countdown(4), 99])
    },
  },
  {
    name: 'IPv4-compatible and zero-padded spellings get no fresh bucket per value: ::/56 and unknown-client are shared',
    proxy: 'one-hop',
    run: async (server, warnings) => {
      // Deprecated ::a.b.c.d (RFC 4291 §2.5.5.1) is an IPv6 address in ::/56, not the IPv4 client.
      const compatible = ['::203.0.113.5', '::198.51.100.1', '::1.2.3.4']
      expect(await remainingOfEach(server, compatible.map(xff))).toEqual(countdown(3))
      expect(await remainingOfEach(server, [xff('203.0.113.5')])).toEqual([99])
      // Leading zeros are not an address (they read as octal elsewhere): one shared unknown bucket.
      const padded = ['203.000.113.005', '0203.0.113.5', '0xcb.0.113.5', '203.0.113.5.']
      expect(await remainingOfEach(server, padded.map(xff))).toEqual(countdown(4))
      expect(warnings.filter((w) => w.includes('FLOODGATE_UNKNOWN_CLIENT_IP'))).toHaveLength(1)
    },
  },
  {
    name: 'hostile identifiers from a custom key (10 KB, NUL, emoji, lone surrogates, NFC/NFD, __proto__) each get their own bucket',
    proxy: 'none',
    options: {
      policies: perMinute(2),
      key: (req: { headers: Record<string, string | string[] | undefined> }) =>
        HOSTILE_IDENTIFIERS[Number(req.headers['x-id'])]!,
    },
    run: async (server) => {
      const requests = HOSTILE_IDENTIFIERS.map((_, i) => ({ 'x-id': String(i) }))
      expect(await remainingOfEach(server, requests)).toEqual(requests.map(() => 1))
      expect(await remainingOfEach(server, requests)).toEqual(requests.map(() => 0))
      for (const headers of requests) expect((await server.get(headers)).status).toBe(429)
    },
  },
]

/** Runs every identity attack against one adapter driver. */
export function runAdapterAttacks(driver: AttackDriver): void {
  describe(`${driver.name} under identity attacks`, () => {
    for (const attack of attacks) {
      it(attack.name, async () => {
        const f = behaviourFixture()
        const server = await driver.start(f.options(perMinute(LIMIT), attack.options), attack.proxy)
        try {
          await attack.run(server, f.warnings)
        } finally {
          await server.close()
        }
      })
    }
  })
}
