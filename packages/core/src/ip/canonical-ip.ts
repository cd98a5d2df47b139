import { isIPv4, isIPv6 } from 'node:net'

// One spelling per address, so that a client cannot get fresh buckets by rewriting its address
// (`::FFFF:1.2.3.4`, `2001:0db8::1`, `[2001:db8::1]`, `fe80::1%eth0`) and so that an IPv6 client,
// which usually holds a whole /64 or /56, cannot rotate through it (PEERS.md, "Identity").

/** The default IPv6 prefix length a client is grouped by: a typical end-user allocation. */
export const DEFAULT_IPV6_SUBNET = 56

/**
 * The canonical text of an IP address, or undefined when `address` is not one.
 * IPv4 stays dotted decimal; an IPv4-mapped IPv6 address becomes its IPv4 address; any other
 * IPv6 address is written as RFC 5952 recommends (lower case, no leading zeros, the longest run of
 * zero groups as `::`), without brackets or zone id.
 */
export function canonicalIp(address: unknown): string | undefined {
  if (typeof address !== 'string') return undefined
  if (isIPv4(address)) return address
  const groups = ipv6Groups(address)
  if (groups === undefined) return undefined
  return mappedIpv4(groups) ?? formatIpv6(groups)
}

/**
 * The rate-limit identifier of a client address: `ip:192.0.2.1` for IPv4 (and IPv4-mapped IPv6),
 * `ip:2001:db8:0:ab00::/56` for IPv6 grouped by its first `ipv6Subnet` bits. Undefined when the
 * address is missing or malformed.
 */
export function clientIpKey(address: unknown, ipv6Subnet: number = DEFAULT_IPV6_SUBNET): string | undefined {
  if (typeof address !== 'string') return undefined
  if (isIPv4(address)) return `ip:${address}`
  const groups = ipv6Groups(address)
  if (groups === undefined) return undefined
  const v4 = mappedIpv4(groups)
  if (v4 !== undefined) return `ip:${v4}`
  for (let i = 0; i < 8; i++) {
    const bits = Math.min(16, Math.max(0, ipv6Subnet - 16 * i))
    groups[i]! &= (0xffff << (16 - bits)) & 0xffff
  }
  return `ip:${formatIpv6(groups)}/${ipv6Subnet}`
}

/** The eight 16-bit groups of an IPv6 address (brackets and zone id allowed), or undefined. */
export function ipv6Groups(address: string): number[] | undefined {
  let text = address
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1)
  const zone = text.indexOf('%')
  if (zone !== -1) text = text.slice(0, zone)
  if (!isIPv6(text)) return undefined
  let tail: number[] = []
  const lastColon = text.lastIndexOf(':')
  if (text.includes('.', lastColon)) {
    // An embedded IPv4 address (`::ffff:192.0.2.1`) is the last two groups.
    const octets = text
      .slice(lastColon + 1)
      .split('.')
      .map(Number)
    tail = [(octets[0]! << 8) | octets[1]!, (octets[2]! << 8) | octets[3]!]
    const prefix = text.slice(0, lastColon + 1)
    text = prefix.endsWith('::') ? prefix : prefix.slice(0, -1)
  }
  const hex = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)))
  const gap = text.indexOf('::')
  const head = hex(gap === -1 ? text : text.slice(0, gap))
  const rest = gap === -1 ? [] : hex(text.slice(gap + 2))
  const known = head.length + rest.length + tail.length
  const zeros = gap === -1 ? 0 : 8 - known
  const groups = [...head, ...new Array<number>(zeros).fill(0), ...rest, ...tail]
  return groups.length === 8 ? groups : undefined
}

function mappedIpv4(groups: readonly number[]): string | undefined {
  for (let i = 0; i < 5; i++) if (groups[i] !== 0) return undefined
  if (groups[5] !== 0xffff) return undefined
  const hi = groups[6]!
  const lo = groups[7]!
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`
}

/** RFC 5952 §4: lower-case hex, no leading zeros, the first longest run (≥ 2) of zeros as `::`. */
export function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hex = (list: readonly number[]) => list.map((g) => g.toString(16)).join(':')
  if (bestStart === -1) return hex(groups)
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`
}
