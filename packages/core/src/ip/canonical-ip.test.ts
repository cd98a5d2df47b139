import { isIP } from 'node:net'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalIp, clientIpKey, ipv6Groups } from './canonical-ip.js'

describe('canonicalIp', () => {
  it('keeps dotted-decimal IPv4 as it is', () => {
    expect(canonicalIp('192.0.2.1')).toBe('192.0.2.1')
    expect(canonicalIp('0.0.0.0')).toBe('0.0.0.0')
  })

  it('turns an IPv4-mapped IPv6 address into its IPv4 address, however it is written', () => {
    for (const mapped of [
      '::ffff:192.0.2.1',
      '::FFFF:192.0.2.1',
      '::ffff:c000:201',
      '0:0:0:0:0:ffff:c000:0201',
    ]) {
      expect(canonicalIp(mapped)).toBe('192.0.2.1')
    }
  })

  it('writes one spelling per IPv6 address: lower case, no leading zeros, longest zero run as ::', () => {
    for (const spelling of ['2001:db8::1', '2001:DB8:0:0:0:0:0:1', '2001:0db8:0000::0001', '[2001:db8::1]']) {
      expect(canonicalIp(spelling)).toBe('2001:db8::1')
    }
    expect(canonicalIp('fe80::1%eth0')).toBe('fe80::1')
    expect(canonicalIp('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1')
    expect(canonicalIp('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1')
    expect(canonicalIp('::')).toBe('::')
    expect(canonicalIp('::1')).toBe('::1')
    expect(canonicalIp('1::')).toBe('1::')
    expect(canonicalIp('::192.0.2.1')).toBe('::c000:201')
    expect(canonicalIp('1:2:3:4:5:6:192.0.2.1')).toBe('1:2:3:4:5:6:c000:201')
    // Only ::ffff:0:0/96 is IPv4-mapped: a non-zero fifth group makes another IPv6 address.
    expect(canonicalIp('0:0:0:0:1:ffff:c000:201')).toBe('::1:ffff:c000:201')
  })

  it('answers undefined for anything that is not an address', () => {
    for (const bad of [
      undefined,
      null,
      42,
      '',
      'unknown',
      '999.1.1.1',
      '01.2.3.4',
      '1.2.3',
      '::g',
      '1:2:3',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7_8',
      '2001:db8::1/64',
      '2001:db8::1 2',
      ['192.0.2.1'],
      { toString: () => '2001:db8::1' },
      '[::1',
      '2001:db8::1::2',
      '1.2.3.4:80',
      '1:2:3:4::5:6:7:8',
      '::1:2:3:4:5:6:7:8',
      '1:2:3:4:5:6:7:8::',
      '1:2:3:4:5:6:7:1.2.3.4',
      'fe80::1%',
    ]) {
      expect(canonicalIp(bad)).toBeUndefined()
    }
  })

  it('agrees with the WHATWG URL serialiser on every IPv6 address that is not IPv4-mapped', () => {
    const groups = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
      minLength: 8,
      maxLength: 8,
    })
    fc.assert(
      fc.property(groups, fc.boolean(), (g, padded) => {
        const full = g
          .map((n) => (padded ? n.toString(16).padStart(4, '0').toUpperCase() : n.toString(16)))
          .join(':')
        const mapped = g.slice(0, 5).every((n) => n === 0) && g[5] === 0xffff
        fc.pre(!mapped)
        expect(canonicalIp(full)).toBe(new URL(`http://[${full}]/`).hostname.slice(1, -1))
        expect(ipv6Groups(canonicalIp(full)!)).toEqual(g)
      }),
      { numRuns: 2000 },
    )
  })
  it('accepts exactly the strings node:net isIP accepts, on random address-like text', () => {
    const atoms = ['0', '1', '9', 'a', 'F', 'ff', '0db8', '12345', '255', '256', '01', '']
    const separated = fc
      .tuple(
        fc.array(fc.tuple(fc.constantFrom(...atoms), fc.constantFrom(':', '.', '::')), { maxLength: 9 }),
        fc.constantFrom(...atoms),
      )
      .map(([pairs, last]) => pairs.flat().join('') + last)
    const dotted = fc.array(fc.constantFrom(...atoms), { minLength: 3, maxLength: 5 }).map((a) => a.join('.'))
    const text = fc.oneof(
      separated,
      dotted,
      fc.tuple(separated, dotted).map(([a, b]) => `${a}:${b}`),
    )
    fc.assert(
      fc.property(text, (address) => {
        expect(canonicalIp(address) !== undefined).toBe(isIP(address) !== 0)
      }),
      { numRuns: 20_000 },
    )
  })
})

describe('clientIpKey', () => {
  it('rejects a subnet that is not a whole number of bits from 1 to 128, with a code', () => {
    for (const subnet of [0, -1, 129, 56.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      for (const address of ['2001:db8::1', '192.0.2.1', 'not an address', undefined]) {
        expect(() => clientIpKey(address, subnet)).toThrow(
          expect.objectContaining({ code: 'ERR_FLOODGATE_INVALID_OPTION', option: 'ipv6Subnet' }),
        )
      }
    }
    expect(clientIpKey('2001:db8::1', 1)).toBe('ip:::/1')
    expect(clientIpKey('2001:db8::1', 128)).toBe('ip:2001:db8::1/128')
  })

  it('keys IPv4 clients by their address', () => {
    expect(clientIpKey('192.0.2.1')).toBe('ip:192.0.2.1')
    expect(clientIpKey('::ffff:192.0.2.1')).toBe('ip:192.0.2.1')
  })

  it('keys an IPv4 client reaching it through NAT64, 6to4 or Teredo by that IPv4 address', () => {
    // NAT64's well-known prefix: each IPv4 client of a translator apart, not all in one /56.
    expect(clientIpKey('64:ff9b::198.51.100.7')).toBe('ip:198.51.100.7')
    expect(clientIpKey('64:ff9b::c633:6408')).toBe('ip:198.51.100.8')
    // 6to4: one IPv4 host's /48, 256 buckets of /56, is one bucket (at any subnet).
    expect(clientIpKey('2002:c000:201::1')).toBe('ip:192.0.2.1')
    expect(clientIpKey('2002:c000:201:ff00::1', 64)).toBe('ip:192.0.2.1')
    // Every octet read in full, high bits included.
    expect(clientIpKey('64:ff9b::203.0.113.200')).toBe('ip:203.0.113.200')
    expect(clientIpKey('2002:cbff:71c8::1')).toBe('ip:203.255.113.200')
    // Teredo: the client's public IPv4 is the last 32 bits, inverted; not its server's /56.
    expect(clientIpKey('2001:0:4136:e378:8000:63bf:3fff:fdd2')).toBe('ip:192.0.2.45')
    expect(clientIpKey('2001:0:4136:e378:8000:63bf:3fff:fdd3')).toBe('ip:192.0.2.44')
    // Other addresses in and beside those ranges stay IPv6.
    expect(clientIpKey('64:ff9b:1::c000:201')).toBe('ip:64:ff9b:1::/56')
    expect(clientIpKey('2001:db8::1')).toBe('ip:2001:db8::/56')
  })

  it('keys by IPv4 only the NAT64 well-known prefix 64:ff9b::/96, not an address beside it', () => {
    // Each differs from 64:ff9b::/96 in one group: an IPv6 client like any other, keyed by its /56,
    // so one holding such a range cannot open a bucket per value of the last 32 bits.
    expect(clientIpKey('65:ff9b::c000:201')).toBe('ip:65:ff9b::/56')
    expect(clientIpKey('2001:ff9b::c000:201')).toBe('ip:2001:ff9b::/56')
    expect(clientIpKey('64:ff9b:0:1::c000:201')).toBe('ip:64:ff9b::/56')
    expect(clientIpKey('64:ff9b::1:0:c000:201')).toBe('ip:64:ff9b::/56')
    expect(clientIpKey('64:ff9b::1:c000:201')).toBe('ip:64:ff9b::/56')
    expect(clientIpKey('64::c000:201')).toBe('ip:64::/56')
  })

  it('keys IPv6 clients by their /56 by default', () => {
    expect(clientIpKey('2001:db8:0:ab12:3:4:5:6')).toBe('ip:2001:db8:0:ab00::/56')
    expect(clientIpKey('2001:db8:0:abff:ffff:ffff:ffff:ffff')).toBe('ip:2001:db8:0:ab00::/56')
    expect(clientIpKey('2001:db8:0:ac00::1')).toBe('ip:2001:db8:0:ac00::/56')
  })

  it('keys IPv6 clients by the prefix length it is given', () => {
    expect(clientIpKey('2001:db8:1:2:3:4:5:6', 64)).toBe('ip:2001:db8:1:2::/64')
    expect(clientIpKey('2001:db8:1:2:3:4:5:6', 128)).toBe('ip:2001:db8:1:2:3:4:5:6/128')
    expect(clientIpKey('2001:db8:1:2:3:4:5:6', 1)).toBe('ip:::/1')
    expect(clientIpKey('ffff:db8:1:2:3:4:5:6', 3)).toBe('ip:e000::/3')
    expect(clientIpKey('2001:fdb8:1:2:3:4:5:6', 20)).toBe('ip:2001:f000::/20')
  })

  it('leaves out a port written after an address, as some proxies forward it', () => {
    expect(clientIpKey('203.0.113.5:51234')).toBe('ip:203.0.113.5')
    expect(clientIpKey('203.0.113.5:0')).toBe('ip:203.0.113.5')
    expect(clientIpKey('203.0.113.5:65535')).toBe('ip:203.0.113.5')
    expect(clientIpKey('[2001:db8:0:ab12::1]:443')).toBe('ip:2001:db8:0:ab00::/56')
    expect(clientIpKey('[::ffff:192.0.2.1]:80')).toBe('ip:192.0.2.1')
    // The address without its port is grouped by the subnet it is given, like any other.
    expect(clientIpKey('[2001:db8:0:ab12::1]:443', 64)).toBe('ip:2001:db8:0:ab12::/64')
    // Without brackets, an IPv6 address's last group is never taken for a port.
    expect(clientIpKey('2001:db8::1:80', 128)).toBe('ip:2001:db8::1:80/128')
    for (const bad of [
      '203.0.113.5:65536',
      '203.0.113.5:',
      '203.0.113.5:8o',
      '203.0.113.5:8/',
      '203.0.113.5:123456',
      'x:80',
      // Without brackets, an IPv6 address is never cut, even where no last group could be a port.
      '::ffff:192.0.2.1:80',
      '2001:db8:1:2:3:4:5:6:443',
    ]) {
      expect(clientIpKey(bad)).toBeUndefined()
    }
    for (const bad of ['[2001:db8::1]:', '[1.2.3.4]:80', '[::1]:80:80', '[[::1]]:80', ':80', '[::1:80']) {
      expect(clientIpKey(bad)).toBeUndefined()
    }
  })

  it('answers undefined for a missing or malformed address', () => {
    expect(clientIpKey(undefined)).toBeUndefined()
    expect(clientIpKey('not-an-ip')).toBeUndefined()
    expect(clientIpKey(['192.0.2.1'])).toBeUndefined()
  })
})
