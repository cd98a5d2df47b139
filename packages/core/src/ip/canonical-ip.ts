// One spelling per address, so that a client cannot get fresh buckets by rewriting its address
// (`::FFFF:1.2.3.4`, `2001:0db8::1`, `[2001:db8::1]`, `fe80::1%eth0`) and so that an IPv6 client,
// which usually holds a whole /64 or /56, cannot rotate through it (PEERS.md, "Identity").
// Parsed by hand in one pass: this runs on every request (the tests hold it to node:net's isIP).

import { invalidOption } from '../errors.js'

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
  if (ipv4Value(address, 0, address.length) !== -1) return address
  const groups = ipv6Groups(address)
  if (groups === undefined) return undefined
  return mappedIpv4(groups) ?? formatIpv6(groups)
}

/**
 * The address in `192.0.2.1:51234` or `[2001:db8::1]:443`, or undefined when `address` has no port
 * written that way. Some proxies (Azure App Service, IIS's ARR) forward the client's port in
 * X-Forwarded-For, and the frameworks pass the entry on as the client address; without this every
 * such client would share the one `unknown-client` bucket. An IPv6 address without brackets is
 * never cut: its last group cannot be told from a port.
 */
function withoutPort(address: string): string | undefined {
  const colon = address.lastIndexOf(':')
  if (colon <= 0 || colon === address.length - 1 || address.length - colon > 6) return undefined
  for (let i = colon + 1; i < address.length; i++) {
    const code = address.charCodeAt(i)
    if (code < 48 || code > 57) return undefined
  }
  if (Number(address.slice(colon + 1)) > 65_535) return undefined
  const host = address.slice(0, colon)
  if (host.charCodeAt(0) === 91 /* [ */)
    return host.charCodeAt(host.length - 1) === 93 /* ] */ ? host : undefined
  return ipv4Value(host, 0, host.length) !== -1 ? host : undefined
}

/**
 * The rate-limit identifier of a client address: `ip:192.0.2.1` for IPv4 (and for an IPv6 address
 * standing for an IPv4 client: IPv4-mapped, NAT64 `64:ff9b::/96`, 6to4, Teredo, at any subnet),
 * `ip:2001:db8:0:ab00::/56` for other IPv6 grouped by its first `ipv6Subnet` bits. An address written
 * with a port (`192.0.2.1:51234`, `[2001:db8::1]:443`) is the address without it. Undefined when the
 * address is missing or malformed.
 */
export function clientIpKey(address: unknown, ipv6Subnet: number = DEFAULT_IPV6_SUBNET): string | undefined {
  if (!Number.isInteger(ipv6Subnet) || ipv6Subnet < 1 || ipv6Subnet > 128) {
    invalidOption('ipv6Subnet', ipv6Subnet, 'a whole number of prefix bits from 1 to 128 (default 56)')
  }
  if (typeof address !== 'string') return undefined
  if (ipv4Value(address, 0, address.length) !== -1) return `ip:${address}`
  const groups = ipv6Groups(address)
  if (groups === undefined) {
    const host = withoutPort(address)
    return host === undefined ? undefined : clientIpKey(host, ipv6Subnet)
  }
  const v4 = mappedIpv4(groups) ?? embeddedIpv4(groups)
  if (v4 !== undefined) return `ip:${v4}`
  for (let i = 0; i < 8; i++) {
    const bits = Math.min(16, Math.max(0, ipv6Subnet - 16 * i))
    groups[i]! &= (0xffff << (16 - bits)) & 0xffff
  }
  return `ip:${formatIpv6(groups)}/${ipv6Subnet}`
}

/** The value of a strict dotted-decimal IPv4 address in `text[start, end)` (no leading zeros), or -1. */
function ipv4Value(text: string, start: number, end: number): number {
  let value = 0
  let parts = 0
  let i = start
  while (parts < 4) {
    let octet = 0
    let digits = 0
    const first = i
    for (; i < end && digits < 4; i++, digits++) {
      const c = text.charCodeAt(i) - 48
      if (c < 0 || c > 9) break
      octet = octet * 10 + c
    }
    if (digits === 0 || digits > 3 || octet > 255 || (digits > 1 && text.charCodeAt(first) === 48)) return -1
    value = value * 256 + octet
    parts++
    if (parts < 4) {
      if (text.charCodeAt(i) !== 46) return -1
      i++
    }
  }
  return i === end ? value : -1
}

function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48
  const lower = code | 0x20
  return lower >= 97 && lower <= 102 ? lower - 87 : -1
}

/** The eight 16-bit groups of an IPv6 address (brackets and zone id allowed), or undefined. */
export function ipv6Groups(address: string): number[] | undefined {
  let i = 0
  let end = address.length
  if (address.charCodeAt(0) === 91) {
    if (address.charCodeAt(end - 1) !== 93) return undefined
    i = 1
    end--
  }
  const zone = address.indexOf('%', i)
  if (zone !== -1 && zone < end) {
    if (zone === end - 1) return undefined
    end = zone
  }
  const groups = [0, 0, 0, 0, 0, 0, 0, 0]
  let n = 0
  let gap = -1
  if (address.charCodeAt(i) === 58) {
    if (address.charCodeAt(i + 1) !== 58) return undefined
    gap = 0
    i += 2
  }
  while (i < end) {
    if (n === 8) return undefined
    let value = 0
    let j = i
    for (; j < end && j - i <= 4; j++) {
      const h = hexDigit(address.charCodeAt(j))
      if (h === -1) break
      value = value * 16 + h
    }
    if (address.charCodeAt(j) === 46 && j < end) {
      // An embedded IPv4 address (`::ffff:192.0.2.1`) is the last two groups.
      const v4 = n > 6 ? -1 : ipv4Value(address, i, end)
      if (v4 === -1) return undefined
      groups[n++] = Math.floor(v4 / 65536)
      groups[n++] = v4 % 65536
      break
    }
    if (j === i || j - i > 4) return undefined
    groups[n++] = value
    if (j === end) break
    if (address.charCodeAt(j) !== 58) return undefined
    i = j + 1
    if (address.charCodeAt(i) === 58 && i < end) {
      if (gap !== -1) return undefined
      gap = n
      i++
    } else if (i === end) {
      return undefined
    }
  }
  if (gap === -1) return n === 8 ? groups : undefined
  if (n > 7) return undefined
  const after = n - gap
  for (let k = 0; k < after; k++) groups[7 - k] = groups[n - 1 - k]!
  for (let k = gap; k < 8 - after; k++) groups[k] = 0
  return groups
}

/**
 * The IPv4 client inside an IPv6 address that stands for it, for keying: NAT64's well-known
 * prefix `64:ff9b::/96` (RFC 6052; a translator's IPv4 clients would otherwise share one /56),
 * 6to4's `2002:AABB:CCDD::/48` (RFC 3056; one IPv4 host's /48 would otherwise be 256 buckets) and
 * Teredo's `2001:0::/32` (RFC 4380; the client's public IPv4, inverted, in the last 32 bits, where
 * the /56 would cover only its server). A network-specific NAT64 prefix cannot be recognised:
 * key those clients with a `key` of your own.
 */
function embeddedIpv4(groups: readonly number[]): string | undefined {
  const [g0, g1] = groups as [number, number]
  if (g0 === 0x2002) return dotted(g1, groups[2]!)
  if (g0 === 0x2001 && g1 === 0) return dotted(~groups[6]! & 0xffff, ~groups[7]! & 0xffff)
  if (
    g0 === 0x64 &&
    g1 === 0xff9b &&
    groups[2] === 0 &&
    groups[3] === 0 &&
    groups[4] === 0 &&
    groups[5] === 0
  ) {
    return dotted(groups[6]!, groups[7]!)
  }
  return undefined
}

function dotted(hi: number, lo: number): string {
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`
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
  let text = ''
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += '::'
      i += bestLength - 1
    } else {
      if (i > 0 && i !== bestStart + bestLength) text += ':'
      text += groups[i]!.toString(16)
    }
  }
  return text
}
