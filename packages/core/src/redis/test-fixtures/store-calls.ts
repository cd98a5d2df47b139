import { vi } from 'vitest'
import { fixedWindow } from '../../policies/fixed-window.js'
import type { RateLimitStore } from '../../store.js'

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

/**
 * Steps through a store's calls under fake timers: `at(ms)` moves the clock to `ms` after the
 * steps began; `call(id)` decides on `id` and says `'sent'`, or the code of the error it failed
 * with at once.
 */
export function steps(store: RateLimitStore): {
  at(ms: number): Promise<unknown>
  call(id: string): Promise<string>
} {
  const start = performance.now()
  return {
    at: async (ms) => vi.advanceTimersByTimeAsync(start + ms - performance.now()),
    call: async (id) => {
      const outcome = follow(store.consume(storeRequest(id)))
      await vi.advanceTimersByTimeAsync(0)
      return outcome.value === undefined ? 'sent' : (outcome.value as { code: string }).code
    },
  }
}

/** A client command that waits: the `i`th call sent is answered by `answers[i](reply)`. */
export function heldCalls(): { answers: ((reply: unknown) => void)[]; run: () => Promise<unknown> } {
  const answers: ((reply: unknown) => void)[] = []
  const run = () =>
    new Promise<unknown>((resolve) => {
      answers.push(resolve)
    })
  return { answers, run }
}
