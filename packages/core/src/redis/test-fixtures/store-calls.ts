import { fixedWindow } from '../../policies/fixed-window.js'

/** A store request for `id`: one fixed window of 10 a minute. */
export const storeRequest = (id: string) => ({
  prefix: 'p',
  id,
  policies: [fixedWindow({ limit: 10, window: '1 m' })],
  cost: 1,
  peek: false,
})

/** Follows a call without awaiting it: `value` is 'answered', or its error, once it settles. */
export function follow(call: unknown): { value: unknown } {
  const outcome: { value: unknown } = { value: undefined }
  Promise.resolve(call).then(
    () => {
      outcome.value = 'answered'
    },
    (error: unknown) => {
      outcome.value = error
    },
  )
  return outcome
}
