import { ERROR_CODES, FloodgateError } from './errors.js'

/**
 * Settles with `work`, or rejects with ERR_FLOODGATE_STORE_TIMEOUT after `ms`. The timer is unref'd
 * (it never keeps the process alive) and cleared as soon as the work settles; a late rejection of
 * the abandoned work is swallowed so it can never become an unhandled rejection.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new FloodgateError(ERROR_CODES.STORE_TIMEOUT, `${what} did not answer within ${ms} ms.`))
    }, ms)
    timer.unref?.()
    work.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}
