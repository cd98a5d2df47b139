import { describe, expect, it } from 'vitest'
import { MAX_DURATION_MS, parseDuration } from './duration.js'
import { ERROR_CODES } from './errors.js'

describe('parseDuration', () => {
  it.each([
    [1500, 1500],
    ['10 s', 10_000],
    ['10s', 10_000],
    ['1 m', 60_000],
    ['2 h', 7_200_000],
    ['1 d', 86_400_000],
    ['1.5 s', 1500],
    ['250 ms', 250],
    ['250ms', 250],
    ['1.1 s', 1100],
    ['0.001 s', 1],
    ['0.0100 s', 10],
    ['1.25 m', 75_000],
    ['2.5 h', 9_000_000],
    ['0.5 d', 43_200_000],
    ['366 d', MAX_DURATION_MS],
  ])('reads %j as %i ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms)
  })

  it.each([
    0,
    -5,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    1e20,
    MAX_DURATION_MS + 1,
    '',
    ' ',
    '10',
    '1500',
    '10 parsecs',
    '10 S',
    '10 sec',
    '10 seconds',
    '10  s',
    '10\ts',
    '10 s\n',
    '10\ns',
    ' 10 s',
    '10 s ',
    '-1 s',
    '+1 s',
    '0 s',
    '0.5 ms',
    '1.0005 s',
    // Not whole milliseconds, however close: no rounding.
    '1.0000000001 s',
    '1.00000000000000000001 s',
    '0.0000001 d',
    '366.00000001 d',
    '99999999999999999999999 d',
    '.5 s',
    '1. s',
    '1e3 ms',
    '1,000 ms',
    '1_000 ms',
    'Infinity s',
    '367 d',
    '1 w',
    '1 y',
    '1 s 1 ms',
    null,
    undefined,
    true,
    {},
    [1000],
    10n,
  ])('rejects %s with ERR_FLOODGATE_INVALID_DURATION', (input) => {
    expect(() => parseDuration(input, 'window')).toThrow(
      expect.objectContaining({ code: ERROR_CODES.INVALID_DURATION, option: 'window', value: input }),
    )
  })

  it('names the option `duration` when the caller gives none', () => {
    expect(() => parseDuration('soon')).toThrow(
      expect.objectContaining({
        option: 'duration',
        message: expect.stringContaining('Invalid `duration`: got "soon"'),
      }),
    )
  })

  it('says a string too long for exact arithmetic is too long, however many digits it has', () => {
    expect(() => parseDuration('367 d', 'window')).toThrow(/got "367 d"; expected at most 366 days\./)
    expect(() => parseDuration('99999999999999999999999 d', 'window')).toThrow(
      /got "99999999999999999999999 d"; expected at most 366 days\./,
    )
  })
})
