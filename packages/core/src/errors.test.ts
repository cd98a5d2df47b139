import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { callbackFailure, describeValue, ERROR_CODES, FloodgateError, isFloodgateError } from './errors.js'

const docs = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8')

/**
 * The anchor GitHub gives a Markdown heading (github-slugger): lower case, punctuation dropped except
 * `-` and `_` (connector punctuation), spaces to dashes. So `## ERR_X` is `#err_x`.
 */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replaceAll(' ', '-')
}

const headings = [...docs.matchAll(/^## (.+)$/gm)].map((m) => m[1]!)

/** The repository the package names, where its docs are read: `https://github.com/<owner>/<name>`. */
const repository = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    repository: { url: string }
  }
).repository.url
  .replace(/^git\+/, '')
  .replace(/\.git$/, '')

describe('FloodgateError', () => {
  it.each(Object.values(ERROR_CODES))('%s links to its own entry in docs/errors.md', (code) => {
    const error = new FloodgateError(code, 'Something is wrong.')
    const anchor = /#([\w-]+)\)$/.exec(error.message)?.[1]
    expect(anchor).toBeDefined()
    expect(error.message).toContain(`see ${repository}/blob/main/docs/errors.md#${anchor})`)
    expect(headings.map(anchorOf)).toContain(anchor)
    const section = docs.split(/^## /m).find((s) => s.startsWith(`${code}\n`))!
    expect(section).toMatch(/\*\*Meaning\.\*\*/)
    expect(section).toMatch(/\*\*Typical message\.\*\*/)
    expect(section).toMatch(/\*\*Fix\.\*\*/)
  })

  it('documents no code that does not exist', () => {
    const codes: string[] = Object.values(ERROR_CODES)
    expect(headings.filter((h) => h.startsWith('ERR_')).every((h) => codes.includes(h))).toBe(true)
  })

  it('keeps code, option, value and cause', () => {
    const cause = new Error('root')
    const error = new FloodgateError(ERROR_CODES.INVALID_OPTION, 'Bad.', {
      option: 'limit',
      value: -1,
      cause,
    })
    expect(error).toMatchObject({
      name: 'FloodgateError',
      code: ERROR_CODES.INVALID_OPTION,
      option: 'limit',
      value: -1,
    })
    expect(error.cause).toBe(cause)
    expect(isFloodgateError(error)).toBe(true)
    expect(isFloodgateError(error, ERROR_CODES.CLOSED)).toBe(false)
    expect(isFloodgateError(new Error('x'))).toBe(false)
  })
})

describe('FloodgateError.value', () => {
  it('is readable but not printed with the error: it may be a client holding a password', async () => {
    const { inspect } = await import('node:util')
    const client = { options: { password: 'S3cret', token: 'AXtoken' } }
    const error = new FloodgateError(ERROR_CODES.INVALID_OPTION, 'Invalid client.', {
      option: 'redis',
      value: client,
    })
    expect(error.value).toBe(client)
    expect(error).toMatchObject({ code: ERROR_CODES.INVALID_OPTION, option: 'redis' })
    expect(inspect(error)).not.toMatch(/S3cret|AXtoken/)
    expect(JSON.stringify(error)).not.toMatch(/S3cret|AXtoken/)
  })
})

describe('a subclass of FloodgateError', () => {
  it('may set its own value, as a field or in its constructor', () => {
    class AsField extends FloodgateError {
      override readonly value = 'mine'
    }
    class InConstructor extends FloodgateError {
      constructor() {
        super(ERROR_CODES.INVALID_OPTION, 'Invalid.', { value: 1 })
        ;(this as { value: unknown }).value = 2
      }
    }
    expect(new AsField(ERROR_CODES.INVALID_OPTION, 'Invalid.', { value: 1 }).value).toBe('mine')
    expect(new InConstructor().value).toBe(2)
  })
})

describe('callbackFailure', () => {
  it.each([undefined, null, false, 0, '', 'route', 'router'])(
    'turns %j, which a framework reads as "no error", into ERR_FLOODGATE_CALLBACK_FAILED holding it',
    (reason) => {
      const error = callbackFailure(reason) as FloodgateError
      expect(isFloodgateError(error, ERROR_CODES.CALLBACK_FAILED)).toBe(true)
      expect(error.value).toBe(reason)
      expect(error.cause).toBe(reason)
    },
  )

  it.each([new Error('broke'), 'routes', 1, true, { code: 'X' }])('passes %j through unchanged', (reason) => {
    expect(callbackFailure(reason)).toBe(reason)
  })
})

describe('describeValue', () => {
  it.each([
    ['a'.repeat(60), JSON.stringify('a'.repeat(60))],
    ['a'.repeat(61), JSON.stringify(`${'a'.repeat(60)}…`)],
    [12.5, '12.5'],
    [false, 'false'],
    [null, 'null'],
    [undefined, 'undefined'],
    [12n, '12n'],
    [() => 1, 'a function'],
    [[1], 'an array'],
    [new Map(), 'a Map'],
    [new Set(), 'a Set'],
    [Promise.resolve(1), 'a Promise'],
    [{ toString: () => 'x' }, 'an object'],
  ])('renders %o as %s', (value, expected) => {
    expect(describeValue(value)).toBe(expected)
  })
})
