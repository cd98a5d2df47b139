/**
 * Every error Floodgate throws on purpose is a `FloodgateError` with a stable `code`.
 * Each code has an entry in docs/errors.md.
 */
export const ERROR_CODES = {
  /** An option has a value of the wrong type or out of range. */
  INVALID_OPTION: 'ERR_FLOODGATE_INVALID_OPTION',
  /** An option name that Floodgate does not know (often a typo). */
  UNKNOWN_OPTION: 'ERR_FLOODGATE_UNKNOWN_OPTION',
  /** A duration that is not a positive whole number of ms or a "<n> <unit>" string. */
  INVALID_DURATION: 'ERR_FLOODGATE_INVALID_DURATION',
  /** Two policies of one request share a name, or one name means different counters in two tiers. */
  POLICY_CONFLICT: 'ERR_FLOODGATE_POLICY_CONFLICT',
  /** A request cost that is not a positive safe integer. */
  INVALID_COST: 'ERR_FLOODGATE_INVALID_COST',
  /** An identifier that is not a string. */
  INVALID_IDENTIFIER: 'ERR_FLOODGATE_INVALID_IDENTIFIER',
  /** The store failed (connection refused, script error, …); `cause` holds the original error. */
  STORE_ERROR: 'ERR_FLOODGATE_STORE_ERROR',
  /** The store did not answer within the limiter's `timeout`. */
  STORE_TIMEOUT: 'ERR_FLOODGATE_STORE_TIMEOUT',
  /** The memory store reached `maxKeys` and every key in reach is still limited. */
  STORE_FULL: 'ERR_FLOODGATE_STORE_FULL',
  /** The limiter was closed and then used again. */
  CLOSED: 'ERR_FLOODGATE_CLOSED',
  /** A middleware's custom `limiter` answered with something that is not a Decision. */
  INVALID_DECISION: 'ERR_FLOODGATE_INVALID_DECISION',
  /**
   * A callback (`key`, `tier`, `cost`, `skip`, `onLimited`) or a custom limiter threw or rejected
   * with a value that a framework reads as "no error" (undefined, null, false, 0, '', 'route').
   */
  CALLBACK_FAILED: 'ERR_FLOODGATE_CALLBACK_FAILED',
} as const

/** One of the stable `ERR_FLOODGATE_*` codes of {@link ERROR_CODES}. */
export type FloodgateErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES]

const DOCS = 'https://github.com/floodgate-js/floodgate/blob/main/docs/errors.md'

/** What marks a FloodgateError, whichever copy of @floodgate/core in the process made it. */
const BRAND = Symbol.for('floodgate.FloodgateError')

/**
 * The error class of every deliberate Floodgate failure. `code` is stable; the message is for people.
 * `instanceof FloodgateError` (and so `isFloodgateError`) holds for one made by any copy of
 * @floodgate/core loaded in the process: its ESM and CommonJS builds, or two installed versions.
 */
export class FloodgateError extends Error {
  /** Always `"FloodgateError"`. */
  override readonly name = 'FloodgateError'
  /** The stable `ERR_FLOODGATE_*` code to branch on; see docs/errors.md. */
  readonly code: FloodgateErrorCode
  /** The option or argument at fault, when there is one (`policies[0].limit`, `cost`). */
  readonly option: string | undefined
  /**
   * The offending value, when there is one. Not enumerable: it may be a client object holding a
   * password or a token, which Node prints with an uncaught error's enumerable properties.
   */
  declare readonly value: unknown

  constructor(
    code: FloodgateErrorCode,
    message: string,
    details: { option?: string; value?: unknown; cause?: unknown } = {},
  ) {
    super(`${message} (${code}, see ${DOCS}#${code.toLowerCase()})`, {
      cause: details.cause,
    })
    this.code = code
    this.option = details.option
    // Writable and configurable, as a field would be: a subclass may set its own.
    Object.defineProperty(this, 'value', {
      value: details.value,
      enumerable: false,
      writable: true,
      configurable: true,
    })
  }

  /** Whether `value` is a FloodgateError of any copy of @floodgate/core in the process. */
  static override [Symbol.hasInstance](value: unknown): value is FloodgateError {
    // A subclass of an app's own keeps the usual prototype check.
    if (this !== FloodgateError) return Function.prototype[Symbol.hasInstance].call(this, value)
    return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true
  }
}
Object.defineProperty(FloodgateError.prototype, BRAND, { value: true })

/** Renders a user-supplied value for an error message, briefly and without throwing. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value)
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return 'an array'
  if (value instanceof Map) return 'a Map'
  if (value instanceof Set) return 'a Set'
  if (value instanceof Promise) return 'a Promise'
  return 'an object'
}

/**
 * What a middleware hands its framework for a thrown or rejected `reason`: the reason itself, unless
 * the framework would read it as "no error" and let the request through (Express's `next()` takes
 * undefined, null, false, 0 and '' as success and 'route' or 'router' as routing; Fastify's `done()`
 * continues on a falsy value; Koa ignores a null rejection and never answers). Such a value becomes
 * ERR_FLOODGATE_CALLBACK_FAILED, with the value as `cause`.
 */
export function callbackFailure(reason: unknown): unknown {
  if (reason && reason !== 'route' && reason !== 'router') return reason
  return new FloodgateError(
    ERROR_CODES.CALLBACK_FAILED,
    `A callback or a custom limiter threw or rejected with ${describeValue(reason)}, which the framework would take for "no error" and let the request through; it is answered as an error instead. Throw an Error.`,
    { value: reason, cause: reason },
  )
}

/** Throws ERR_FLOODGATE_INVALID_OPTION naming the option, the value and the fix. */
export function invalidOption(option: string, value: unknown, expected: string): never {
  throw new FloodgateError(
    ERROR_CODES.INVALID_OPTION,
    `Invalid \`${option}\`: got ${describeValue(value)}; expected ${expected}.`,
    { option, value },
  )
}

/** Whether `error` is a {@link FloodgateError}, optionally with exactly this `code`. */
export function isFloodgateError(error: unknown, code?: FloodgateErrorCode): error is FloodgateError {
  return error instanceof FloodgateError && (code === undefined || error.code === code)
}
