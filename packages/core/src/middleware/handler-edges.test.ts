import { describe, expect, it } from 'vitest'
import { createRateLimiter } from '../limiter.js'
import { fixedWindow } from '../policies/fixed-window.js'
import { fakeBinding as binding, type FakeRequest } from './fake-request.js'
import { createRateLimitHandler } from './request-handler.js'

const policies = fixedWindow({ limit: 10, window: '1 m' })
const request = (): FakeRequest => ({ ip: '192.0.2.7', headers: {} })

describe('skip', () => {
  it('warns of nothing when it answers false, undefined or null, and the request counts', async () => {
    for (const answer of [false, undefined, null]) {
      const lines: string[] = []
      const logger = { warn: (line: string) => void lines.push(line) }
      const handler = createRateLimitHandler({ policies, logger, skip: () => answer as never }, binding)
      expect(await handler.decide(request())).toMatchObject({ allowed: true, remaining: 9 })
      expect(lines).toEqual([])
    }
  })
})

describe('mounts of one limiter on one request', () => {
  it('count it once per identifier, however many mounts with other keys come between', async () => {
    const limiter = createRateLimiter({ policies, logger: false })
    const mount = (id: string) => createRateLimitHandler({ limiter, key: () => id }, binding)
    const [a, b, aAgain] = [mount('key-a'), mount('key-b'), mount('key-a')]
    const req = request()
    expect(await a.decide(req)).toMatchObject({ allowed: true, remaining: 9 })
    expect(await b.decide(req)).toMatchObject({ allowed: true, remaining: 9 })
    expect(await aAgain.decide(req)).toBeUndefined()
  })
})
