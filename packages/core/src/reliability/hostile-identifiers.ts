// Identifiers a hostile or careless client may send through a custom `key`. Each must land in its
// own bucket: the same one on every request, never shared with another identifier of this list.

const TEN_KB = 10 * 1024

/** Pairs that look alike but are different identifiers, and everything else that is hard to key. */
export const HOSTILE_IDENTIFIERS: readonly string[] = [
  'x'.repeat(TEN_KB),
  `${'x'.repeat(TEN_KB - 1)}y`, // differs from the one above in its last character only
  'x'.repeat(128), // the longest identifier kept as it is
  'x'.repeat(129), // the shortest one replaced by its digest
  'a\0b',
  'a\0',
  '\0',
  'a',
  '😀',
  '\u{1F600}\u{1F601}',
  '\uD83D', // a lone high surrogate: half of 😀
  '\uDE00', // a lone low surrogate: the other half
  '\uD83Dx',
  'caf\u00E9', // NFC: é as one code point
  'cafe\u0301', // NFD: e + combining acute accent
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'prototype',
  'valueOf',
  '',
  ' ',
  'a:b',
  'a.b',
  '{a}',
  '*',
]
