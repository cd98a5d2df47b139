import { expect } from 'vitest'
import type { AdapterCase, BehaviourServer } from './adapter-behaviour.js'
import { withServer } from './adapter-behaviour.js'
import { behaviourFixture, perMinute } from './adapter-fixture.js'

/** X-RateLimit-Remaining of a GET from `address`, as a trusted loopback proxy forwards it. */
async function remainingFrom(server: BehaviourServer, forwardedFor: string): Promise<number> {
  const r = await server.get('/', { 'x-forwarded-for': forwardedFor })
  expect(r.status).toBe(200)
  return Number(r.headers.get('x-ratelimit-remaining'))
}

async function remainingOfEach(server: BehaviourServer, addresses: readonly string[]): Promise<number[]> {
  const result: number[] = []
  for (const address of addresses) result.push(await remainingFrom(server, address))
  return result
}

const countdown = (limit: number, n: number) => Array.from({ length: n }, (_, i) => limit - 1 - i)

/** The default key, through the framework's own trust-proxy handling (issue #3, item 3). */
export function adapterIpCases(): Record<string, AdapterCase[]> {
  return { 'client address as the default key': ipCases }
}

const ipCases: AdapterCase[] = [
  {
    name: 'counts 20 addresses of one IPv6 /56 in one bucket, and another /56 apart',
    run: (driver) => {
      const f = behaviourFixture()
      return withServer(driver, { global: f.options(perMinute(30)), trustProxy: true }, async (server) => {
        // 2001:db8:0:ab00::/56 spans 2001:db8:0:ab00:: to 2001:db8:0:abff:ffff:….
        const sameSubnet = Array.from(
          { length: 20 },
          (_, i) => `2001:db8:0:ab${(i * 13).toString(16).padStart(2, '0')}:${i + 1}::${i}`,
        )
        expect(await remainingOfEach(server, sameSubnet)).toEqual(countdown(30, 20))
        expect(await remainingOfEach(server, ['2001:db8:0:ac00::1', '2001:db8:0:ac17::2'])).toEqual([29, 28])
        expect(await remainingFrom(server, '2001:db8:0:abff:ffff:ffff:ffff:ffff')).toBe(9)
      })
    },
  },
  {
    name: 'counts ::ffff:192.0.2.1 and 192.0.2.1 as one client',
    run: (driver) => {
      const f = behaviourFixture()
      return withServer(driver, { global: f.options(perMinute(5)), trustProxy: true }, async (server) => {
        const spellings = ['::ffff:192.0.2.1', '192.0.2.1', '::FFFF:c000:201', '0:0:0:0:0:ffff:192.0.2.1']
        expect(await remainingOfEach(server, spellings)).toEqual([4, 3, 2, 1])
        expect(await remainingFrom(server, '192.0.2.2')).toBe(4)
      })
    },
  },
  {
    name: 'counts a forwarded address written with a port as that address, whatever the port',
    run: (driver) => {
      const f = behaviourFixture()
      return withServer(driver, { global: f.options(perMinute(5)), trustProxy: true }, async (server) => {
        // Azure App Service and IIS's ARR forward the client's port in X-Forwarded-For.
        const client = ['203.0.113.5:51234', '203.0.113.5:40000', '203.0.113.5']
        expect(await remainingOfEach(server, client)).toEqual([4, 3, 2])
        expect(await remainingOfEach(server, ['203.0.113.6:51234', '[2001:db8::1]:443'])).toEqual([4, 4])
        expect(await remainingFrom(server, '[2001:db8::2]:8443')).toBe(3)
      })
    },
  },
  {
    name: 'counts 2001:db8::1 written three ways as one client',
    run: (driver) => {
      const f = behaviourFixture()
      const app = { global: f.options(perMinute(5), { ipv6Subnet: 128 }), trustProxy: true }
      return withServer(driver, app, async (server) => {
        const spellings = ['2001:db8::1', '2001:DB8:0:0:0:0:0:1', '2001:0db8:0000::0001']
        expect(await remainingOfEach(server, spellings)).toEqual([4, 3, 2])
        expect(await remainingFrom(server, '2001:db8::2')).toBe(4)
      })
    },
  },
  {
    name: 'groups IPv6 clients by ipv6Subnet when it is set',
    run: (driver) => {
      const f = behaviourFixture()
      const app = { global: f.options(perMinute(5), { ipv6Subnet: 64 }), trustProxy: true }
      return withServer(driver, app, async (server) => {
        expect(await remainingOfEach(server, ['2001:db8:0:1::1', '2001:db8:0:1:ffff::2'])).toEqual([4, 3])
        expect(await remainingFrom(server, '2001:db8:0:2::1')).toBe(4)
      })
    },
  },
  {
    name: 'does not let forged X-Forwarded-For values make new buckets when proxies are not trusted',
    run: (driver) => {
      const f = behaviourFixture()
      return withServer(driver, { global: f.options(perMinute(5)) }, async (server) => {
        const forged = ['198.51.100.1', '198.51.100.2', '2001:db8::7', '203.0.113.9', '198.51.100.3']
        expect(await remainingOfEach(server, forged)).toEqual([4, 3, 2, 1, 0])
        const denied = await server.get('/', { 'x-forwarded-for': '198.51.100.99' })
        expect(denied.status).toBe(429)
        const warned = f.warnings.filter((w) => w.includes('FLOODGATE_FORWARDED_HEADER_IGNORED'))
        expect(warned).toHaveLength(1)
      })
    },
  },
  {
    name: 'counts a request with a malformed client address under one unknown-client bucket, with a warning',
    run: (driver) => {
      const f = behaviourFixture()
      return withServer(driver, { global: f.options(perMinute(5)), trustProxy: true }, async (server) => {
        expect(await remainingOfEach(server, ['not-an-ip', '999.1.1.1', 'unknown'])).toEqual([4, 3, 2])
        expect(await remainingFrom(server, '192.0.2.1')).toBe(4)
        const warned = f.warnings.filter((w) => w.includes('FLOODGATE_UNKNOWN_CLIENT_IP'))
        expect(warned).toHaveLength(1)
        expect(f.warnings.some((w) => w.includes('FLOODGATE_FORWARDED_HEADER_IGNORED'))).toBe(false)
      })
    },
  },
]
