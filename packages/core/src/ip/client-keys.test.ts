import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { clientIpKey } from './canonical-ip.js'
import { CLIENT_KEY_CACHE_SIZE, ClientKeys } from './client-keys.js'

const addresses = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.ipV4().map((v4) => `::ffff:${v4}`),
  fc.string({ maxLength: 80 }),
  fc.constantFrom('', ' 192.0.2.1', '[2001:db8::1]', 'fe80::1%eth0', '::FFFF:192.0.2.1'),
)

describe('ClientKeys', () => {
  it('gives exactly what clientIpKey gives, the first time and every time after', () => {
    for (const subnet of [undefined, 48, 64, 128]) {
      const keys = new ClientKeys(subnet)
      fc.assert(
        fc.property(fc.array(addresses, { minLength: 1, maxLength: 40 }), (list) => {
          for (const address of [...list, ...list]) {
            expect(keys.of(address)).toBe(clientIpKey(address, subnet))
          }
        }),
      )
    }
  })

  it('answers undefined for what is not an address, and remembers none of it', () => {
    const keys = new ClientKeys(undefined)
    for (const bad of [undefined, null, 42, {}, '', 'localhost', '999.0.0.1', 'x'.repeat(200)]) {
      expect(keys.of(bad)).toBeUndefined()
    }
    expect(keys.size).toBe(0)
  })

  it('remembers no address longer than a real one, though it gives its key', () => {
    const keys = new ClientKeys(undefined)
    // A valid IPv6 address whose zone makes it longer than any address a client really has.
    const long = `fe80::1%${'z'.repeat(100)}`
    expect(keys.of(long)).toBe('ip:fe80::/56')
    expect(keys.of(long)).toBe('ip:fe80::/56')
    expect(keys.size).toBe(0)
  })

  it('stays bounded under a stream of distinct addresses, still answering each correctly', () => {
    const keys = new ClientKeys(56)
    let peak = 0
    for (let i = 0; i < 5 * CLIENT_KEY_CACHE_SIZE; i++) {
      // Every address of one /56: all share one key, as an IPv6 client rotating its addresses would.
      const address = `2001:db8:0:ab${(i & 0xff).toString(16).padStart(2, '0')}:${(i >> 8).toString(16)}::1`
      expect(keys.of(address)).toBe('ip:2001:db8:0:ab00::/56')
      peak = Math.max(peak, keys.size)
    }
    expect(peak).toBe(CLIENT_KEY_CACHE_SIZE)
  })
})
