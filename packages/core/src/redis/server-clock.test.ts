import { describe, expect, it } from 'vitest'
import { OFFSET_PERIOD_MS, ServerClock } from './server-clock.js'

// The server's clock runs `TRUE_OFFSET` ms ahead of this process's; a command sent at local time
// `sent` runs on Redis some transit later, and its reply is read later still.
const TRUE_OFFSET = 1_700_000_000_000

function setup() {
  let local = 0
  const clock = new ServerClock(() => local)
  /** A command sent at `sent`, run on Redis `transit` ms later (its TIME floored to whole ms). */
  const reply = (sent: number, transit: number, offset = TRUE_OFFSET) => {
    const serverMs = Math.floor(sent + transit + offset)
    local = Math.max(local, sent + transit)
    clock.observe(serverMs, sent)
  }
  return {
    clock,
    reply,
    at: (ms: number) => {
      local = ms
    },
  }
}

describe('ServerClock: an upper bound on the Redis server clock minus this process clock', () => {
  it('has no estimate, and maps no deadline, before the first reply', () => {
    const { clock } = setup()
    expect(clock.offsetMs).toBeUndefined()
    expect(clock.serverTime(1_000)).toBe(0)
  })

  it('takes the least sample, each counted from the send, so it is never below the true offset', () => {
    const { clock, reply } = setup()
    reply(100.25, 3.5)
    reply(200.5, 0.3)
    reply(300.75, 12)
    // The 0.3 ms transit is the best sample: floor(200.8 + offset) + 1 - 200.5.
    expect(clock.offsetMs).toBe(Math.floor(200.8 + TRUE_OFFSET) + 1 - 200.5)
    expect(clock.offsetMs!).toBeGreaterThan(TRUE_OFFSET)
    expect(clock.offsetMs! - TRUE_OFFSET).toBeLessThanOrEqual(1.3)
  })

  it('does not move when a reply is read late (a busy event loop): only when it was sent counts', () => {
    const { clock, reply, at } = setup()
    reply(100, 0.5)
    const before = clock.offsetMs
    // Sent at 200, run at 200.5 on Redis, read at 5,000: the sample is as good as ever.
    at(5_000)
    clock.observe(Math.floor(200.5 + TRUE_OFFSET), 200)
    expect(clock.offsetMs).toBe(before)
    // A deadline mapped with it is never earlier on the server than the true one.
    expect(clock.serverTime(10_000)).toBeGreaterThanOrEqual(10_000 + TRUE_OFFSET)
  })

  it('maps a deadline to whole epoch ms, rounded up', () => {
    const { clock, reply } = setup()
    reply(0, 0)
    expect(clock.offsetMs).toBe(TRUE_OFFSET + 1)
    expect(clock.serverTime(250.2)).toBe(TRUE_OFFSET + 1 + 251)
    expect(clock.serverTime(Number.POSITIVE_INFINITY)).toBe(0)
  })

  it('follows a server clock stepped back at once, and forgets the old samples after two periods', () => {
    const { clock, reply } = setup()
    reply(0, 0.2)
    // The server's clock steps back a minute: the next sample is lower, so it is taken at once.
    reply(1_000, 0.2, TRUE_OFFSET - 60_000)
    expect(clock.offsetMs).toBe(Math.floor(1_000.2 + TRUE_OFFSET - 60_000) + 1 - 1_000)
    // The server's clock steps forward again; the low sample stays for this period and the next.
    reply(OFFSET_PERIOD_MS + 1, 0.2)
    expect(clock.offsetMs).toBeLessThan(TRUE_OFFSET - 50_000)
    reply(2 * OFFSET_PERIOD_MS + 2, 0.2)
    expect(clock.offsetMs).toBeGreaterThan(TRUE_OFFSET)
    expect(clock.offsetMs! - TRUE_OFFSET).toBeLessThanOrEqual(1.2)
  })

  it('drops the last period after a quiet spell: the clocks may have drifted since', () => {
    const { clock, reply } = setup()
    reply(0, 0.2, TRUE_OFFSET - 5)
    reply(5 * OFFSET_PERIOD_MS, 0.2)
    expect(clock.offsetMs).toBe(
      Math.floor(5 * OFFSET_PERIOD_MS + 0.2 + TRUE_OFFSET) + 1 - 5 * OFFSET_PERIOD_MS,
    )
  })

  it('keeps the last period until a whole period has passed since its end, and drops it at that instant', () => {
    const kept = setup()
    kept.reply(0, 0, TRUE_OFFSET - 5)
    kept.reply(2 * OFFSET_PERIOD_MS - 1, 0)
    expect(kept.clock.offsetMs).toBe(TRUE_OFFSET - 5 + 1)
    const dropped = setup()
    dropped.reply(0, 0, TRUE_OFFSET - 5)
    dropped.reply(2 * OFFSET_PERIOD_MS, 0)
    expect(dropped.clock.offsetMs).toBe(TRUE_OFFSET + 1)
  })

  it('starts a new period at the instant the last one ends', () => {
    const { clock, reply } = setup()
    reply(0, 0, TRUE_OFFSET - 5)
    // Periods [0, P), [P, 2P), [2P, 3P): the low sample of the first is gone at 2P.
    reply(OFFSET_PERIOD_MS, 0)
    reply(OFFSET_PERIOD_MS + 1, 0)
    reply(2 * OFFSET_PERIOD_MS, 0)
    expect(clock.offsetMs).toBe(TRUE_OFFSET + 1)
  })

  it('relearns from one sample when the server clock moved forward, and ignores replies to older sends', () => {
    const { clock, reply } = setup()
    reply(0, 0.2)
    const stepped = TRUE_OFFSET + 30_000
    clock.relearn(Math.floor(1_000.3 + stepped), 1_000)
    expect(clock.offsetMs).toBe(Math.floor(1_000.3 + stepped) + 1 - 1_000)
    // A reply to a command sent before the relearned one may have run before the step: not taken.
    clock.observe(Math.floor(900.3 + TRUE_OFFSET), 900)
    expect(clock.offsetMs).toBe(Math.floor(1_000.3 + stepped) + 1 - 1_000)
    // Later sends are taken as usual.
    reply(1_100, 0.1, stepped)
    expect(clock.offsetMs).toBe(Math.floor(1_100.1 + stepped) + 1 - 1_100)
  })

  it('starts its periods afresh from the sample it relearns from', () => {
    const { clock, reply, at } = setup()
    reply(0, 0) // a period [0, P)
    const stepped = TRUE_OFFSET + 30_000
    at(1_000)
    clock.relearn(1_000 + stepped, 1_000) // a period [1,000, P + 1,000)
    // A step back within that period, then two periods of the stepped clock: the low sample is gone.
    reply(OFFSET_PERIOD_MS + 500, 0, stepped - 60_000)
    reply(2 * OFFSET_PERIOD_MS, 0, stepped)
    reply(3 * OFFSET_PERIOD_MS, 0, stepped)
    expect(clock.offsetMs).toBe(stepped + 1)
  })

  it('ignores a server time that is not whole positive ms', () => {
    const { clock } = setup()
    for (const bad of [Number.NaN, -1, 0, 1.5, Number.POSITIVE_INFINITY]) clock.observe(bad, 0)
    expect(clock.offsetMs).toBeUndefined()
  })

  it('keeps the least sample of the period, however many worse ones follow it', () => {
    const { clock, reply } = setup()
    reply(100, 0.2)
    const best = clock.offsetMs
    // Within the same period: slower round trips give larger samples, never taken over the best.
    reply(200, 5)
    reply(300, 7)
    reply(400, 9)
    expect(clock.offsetMs).toBe(best)
  })

  it('takes a seed as its estimate until the first reply, then drops it', () => {
    const { clock, reply } = setup()
    clock.seed(undefined)
    expect(clock.offsetMs).toBeUndefined()
    expect(clock.serverTime(1_000)).toBe(0)
    // Another node's estimate: deadlines are mapped with it before this clock has a reply.
    clock.seed(TRUE_OFFSET + 50)
    expect(clock.offsetMs).toBe(TRUE_OFFSET + 50)
    expect(clock.serverTime(1_000)).toBe(TRUE_OFFSET + 50 + 1_000)
    // A second seed does not replace the first.
    clock.seed(TRUE_OFFSET + 10)
    expect(clock.offsetMs).toBe(TRUE_OFFSET + 50)
    // The first reply starts afresh: its sample is the estimate, even when larger than the seed.
    clock.seed(undefined)
    reply(2_000, 100)
    expect(clock.offsetMs).toBe(Math.floor(2_100 + TRUE_OFFSET) + 1 - 2_000)
  })

  it('ignores a seed once it has learned from a reply', () => {
    const { clock, reply } = setup()
    reply(0, 0.2)
    const learned = clock.offsetMs
    clock.seed(TRUE_OFFSET - 60_000)
    expect(clock.offsetMs).toBe(learned)
    clock.seed(undefined)
    expect(clock.offsetMs).toBe(learned)
  })
})
