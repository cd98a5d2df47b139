import { afterEach, describe, expect, it, vi } from 'vitest'
import { DeadlineQueue, type PendingCall, timersAreReal, withDeadline } from './deadline.js'
import { ERROR_CODES } from './errors.js'

/** Starts a deadline for a call that runs `expire` when it times out. */
function add(queue: DeadlineQueue, expire: () => void): PendingCall {
  const call: PendingCall = { atMs: 0, settled: false, expire }
  queue.track(call)
  return call
}

describe('DeadlineQueue', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('expires each unsettled call exactly its timeout after it was added, not before', async () => {
    vi.useFakeTimers()
    const queue = new DeadlineQueue(100)
    const expired: string[] = []
    add(queue, () => expired.push('a'))
    await vi.advanceTimersByTimeAsync(30)
    add(queue, () => expired.push('b'))
    await vi.advanceTimersByTimeAsync(69)
    expect(expired).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(expired).toEqual(['a'])
    await vi.advanceTimersByTimeAsync(29)
    expect(expired).toEqual(['a'])
    await vi.advanceTimersByTimeAsync(1)
    expect(expired).toEqual(['a', 'b'])
  })

  it('never expires a call settled in time, and still expires the unsettled ones behind it', async () => {
    vi.useFakeTimers()
    const queue = new DeadlineQueue(50)
    const expired: number[] = []
    const calls = Array.from({ length: 5 }, (_, i) => add(queue, () => expired.push(i)))
    calls[0]!.settled = true
    calls[2]!.settled = true
    await vi.advanceTimersByTimeAsync(10)
    const late = add(queue, () => expired.push(5))
    await vi.advanceTimersByTimeAsync(40)
    expect(expired).toEqual([1, 3, 4])
    await vi.advanceTimersByTimeAsync(10)
    expect(expired).toEqual([1, 3, 4, 5])
    expect(late.settled).toBe(true)
  })

  it('keeps expiring the other calls when one expiry throws', async () => {
    vi.useFakeTimers()
    const queue = new DeadlineQueue(20)
    const expired: string[] = []
    add(queue, () => {
      throw new Error('a broken hook')
    })
    add(queue, () => expired.push('second'))
    await vi.advanceTimersByTimeAsync(20)
    expect(expired).toEqual(['second'])
  })

  it('expires calls added by an expiry at their own deadline', async () => {
    vi.useFakeTimers()
    const queue = new DeadlineQueue(40)
    const expired: string[] = []
    add(queue, () => {
      expired.push('first')
      add(queue, () => expired.push('added by first'))
    })
    await vi.advanceTimersByTimeAsync(40)
    expect(expired).toEqual(['first'])
    await vi.advanceTimersByTimeAsync(39)
    expect(expired).toEqual(['first'])
    await vi.advanceTimersByTimeAsync(1)
    expect(expired).toEqual(['first', 'added by first'])
  })
})

describe('DeadlineQueue under a long timeout', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('lets go of calls answered in time as new ones come, not only when its timer passes them', () => {
    const queue = new DeadlineQueue(3_600_000)
    const held = () => {
      const calls = Reflect.get(queue, 'calls') as unknown[]
      return calls.length - (Reflect.get(queue, 'head') as number)
    }
    for (let i = 0; i < 10_000; i++) add(queue, () => undefined).settled = true
    expect(held()).toBe(1) // the last, until the next arrives
    expect((Reflect.get(queue, 'calls') as unknown[]).length).toBeLessThanOrEqual(1_025)
    // One call unanswered holds the ones behind it, as their deadlines come after its.
    const hung = add(queue, () => undefined)
    for (let i = 0; i < 10; i++) add(queue, () => undefined).settled = true
    expect(held()).toBe(11)
    hung.settled = true
    add(queue, () => undefined)
    expect(held()).toBe(1)
  })

  it('still lets go of calls answered in time once its timer has expired a call', async () => {
    vi.useFakeTimers()
    const queue = new DeadlineQueue(3_600_000)
    const expired = vi.fn()
    add(queue, expired)
    await vi.advanceTimersByTimeAsync(3_600_000)
    expect(expired).toHaveBeenCalledTimes(1)
    for (let i = 0; i < 10_000; i++) add(queue, () => undefined).settled = true
    expect((Reflect.get(queue, 'calls') as unknown[]).length).toBeLessThanOrEqual(1_025)
  })

  it('lets go of the calls a hung call held once it answers, while calls keep coming', () => {
    const queue = new DeadlineQueue(3_600_000)
    const hung = add(queue, () => undefined)
    for (let i = 0; i < 2_000; i++) add(queue, () => undefined).settled = true
    hung.settled = true
    // Always one call in flight, as under steady traffic: the queue never empties.
    for (let i = 0; i < 10_000; i++) add(queue, () => undefined).settled = true
    expect((Reflect.get(queue, 'calls') as unknown[]).length).toBeLessThanOrEqual(1_025)
  })
})

describe('DeadlineQueue with a hook that decides again from an expiry', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('keeps the calls it adds, and the calls after them, through a sweep of over 1,024 calls', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'performance'] })
    const queue = new DeadlineQueue(20)
    const expired: string[] = []
    for (let n = 0; n < 1_100; n++) {
      add(queue, () => {
        expired.push('burst')
        // An onStoreFailure hook that makes a decision of its own on the same limiter.
        if (n === 1_050) add(queue, () => expired.push('probe'))
      })
    }
    await vi.advanceTimersByTimeAsync(5)
    for (let n = 0; n < 100; n++) add(queue, () => expired.push('later'))
    await vi.advanceTimersByTimeAsync(100)
    expect(expired.filter((e) => e === 'burst')).toHaveLength(1_100)
    expect(expired.filter((e) => e === 'later')).toHaveLength(100)
    expect(expired).toContain('probe')
  })
})

describe('DeadlineQueue timers', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('keeps one timer armed when an expiry adds a call', async () => {
    vi.useFakeTimers()
    const queue = new DeadlineQueue(40)
    add(queue, () => add(queue, () => undefined))
    await vi.advanceTimersByTimeAsync(40)
    expect(vi.getTimerCount()).toBe(1)
  })
})

describe('DeadlineQueue across fake and real timers', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('still expires calls once the fake timers its timer was armed under are gone', async () => {
    // A module-level limiter, one test of which used fake timers: its queue's timer is a fake one,
    // which never fires after vi.useRealTimers().
    vi.useFakeTimers()
    const queue = new DeadlineQueue(20)
    add(queue, () => undefined).settled = true // answered at once: the timer stays armed
    vi.useRealTimers()
    await new Promise<void>((resolve) => add(queue, resolve))
  })

  it('expires calls on the real clock after a call left waiting under a fake clock an hour ahead', async () => {
    vi.useFakeTimers()
    const queue = new DeadlineQueue(20)
    await vi.advanceTimersByTimeAsync(3_600_000)
    const expired: string[] = []
    add(queue, () => expired.push('left by the fake clock'))
    vi.useRealTimers()
    await new Promise<void>((resolve) => add(queue, resolve))
    expect(expired).toEqual(['left by the fake clock'])
  })

  it("expires a test's calls under fake timers behind a real call whose timer fired while they were installed", async () => {
    const queue = new DeadlineQueue(50)
    const expired: string[] = []
    add(queue, () => expired.push('real')) // left by an earlier test, on the real clock
    vi.useFakeTimers({ now: 0 })
    // Its real timer fires while this test's fakes are installed (the test awaited real I/O).
    ;(Reflect.get(queue, 'expireDue') as () => void)()
    add(queue, () => expired.push('fake'))
    await vi.advanceTimersByTimeAsync(50)
    expect(expired).toEqual(['real', 'fake'])
  })

  it("expires calls by a later test's fake clock, the earlier test's fakes being gone", async () => {
    vi.useFakeTimers()
    const queue = new DeadlineQueue(250)
    add(queue, () => undefined).settled = true // the first test's call, answered at once
    vi.useRealTimers()
    vi.useFakeTimers() // the next test's beforeEach
    const expired: string[] = []
    add(queue, () => expired.push('b'))
    await vi.advanceTimersByTimeAsync(250)
    expect(expired).toEqual(['b'])
  })

  it("expires at once a call left by an earlier test's fakes whose deadline has passed on the later test's clock", async () => {
    vi.useFakeTimers()
    const queue = new DeadlineQueue(250)
    const expired: string[] = []
    add(queue, () => expired.push('a')) // the first test's call, never answered
    vi.useRealTimers()
    vi.useFakeTimers() // the next test's, whose clock is past a's deadline before it decides
    await vi.advanceTimersByTimeAsync(1_000)
    add(queue, () => expired.push('b'))
    await vi.advanceTimersByTimeAsync(1)
    expect(expired).toEqual(['a'])
    await vi.advanceTimersByTimeAsync(249)
    expect(expired).toEqual(['a', 'b'])
  })

  it('expires calls by the fake clock once fake timers replace the real ones it was armed under', async () => {
    const queue = new DeadlineQueue(60_000)
    add(queue, () => undefined).settled = true // a real timer, armed for a minute
    vi.useFakeTimers()
    const expired: string[] = []
    add(queue, () => expired.push('b'))
    await vi.advanceTimersByTimeAsync(59_999)
    expect(expired).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(expired).toEqual(['b'])
  })
})

describe('timersAreReal', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it("tells a test's fake timers by their marks, whenever they were installed", () => {
    expect(timersAreReal()).toBe(true)
    vi.useFakeTimers()
    expect(timersAreReal()).toBe(false)
    vi.useRealTimers()
    expect(timersAreReal()).toBe(true)
    // Installed by hand, as by a setup file before any module loaded: sinon's mark, Jest's legacy mock.
    const real = globalThis.setTimeout
    for (const mark of ['clock', '_isMockFunction']) {
      globalThis.setTimeout = Object.assign((() => 0) as unknown as typeof setTimeout, { [mark]: true })
      try {
        expect(timersAreReal()).toBe(false)
      } finally {
        globalThis.setTimeout = real
      }
    }
    expect(timersAreReal()).toBe(true)
  })

  it('takes a fake setImmediate alone for fake timers: an immediate it queued would never run', () => {
    vi.useFakeTimers({ toFake: ['setImmediate'] })
    expect(timersAreReal()).toBe(false)
  })
})

describe('withDeadline', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('clears its timer as soon as the work settles, answered or failed', async () => {
    vi.useFakeTimers()
    await expect(withDeadline(Promise.resolve('answer'), 60_000, 'The store')).resolves.toBe('answer')
    expect(vi.getTimerCount()).toBe(0)
    await expect(withDeadline(Promise.reject(new Error('down')), 60_000, 'The store')).rejects.toThrow('down')
    expect(vi.getTimerCount()).toBe(0)
  })

  it('rejects with ERR_FLOODGATE_STORE_TIMEOUT, naming what did not answer and the timeout, at the deadline', async () => {
    vi.useFakeTimers()
    const late = withDeadline(new Promise<never>(() => undefined), 250, 'The redis store')
    const settled = vi.fn()
    late.then(settled, settled)
    await vi.advanceTimersByTimeAsync(249)
    expect(settled).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    await expect(late).rejects.toMatchObject({
      code: ERROR_CODES.STORE_TIMEOUT,
      message: expect.stringContaining('The redis store did not answer within 250 ms.'),
    })
  })
})

describe('deadline timers', () => {
  /** Timers that keep the event loop alive. */
  const refedTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

  it('never keep the process alive, while a call waits on withDeadline or a DeadlineQueue', async () => {
    const before = refedTimers()
    let answer: (value: string) => void = () => undefined
    const waiting = withDeadline(new Promise<string>((resolve) => (answer = resolve)), 60_000, 'The store')
    const queue = new DeadlineQueue(60_000)
    const call = add(queue, () => undefined)
    expect(refedTimers()).toBe(before)
    answer('answer')
    call.settled = true
    await expect(waiting).resolves.toBe('answer')
  })
})
