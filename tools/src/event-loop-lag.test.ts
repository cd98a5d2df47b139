import { describe, expect, it } from 'vitest'
import { watchEventLoopLag } from './event-loop-lag.js'

/** Resolves after the histogram's timer has had a turn (it runs on the loop's timers phase). */
const turn = () => new Promise((resolve) => setTimeout(resolve, 30))

describe('watchEventLoopLag', () => {
  it('reports at least as long as the loop was held up, and nothing once stopped', async () => {
    const lag = watchEventLoopLag()
    try {
      await turn()
      // Hold the loop for 100 ms: the watcher's next tick comes that much late, or later on a busy
      // machine (a lower bound only, which load cannot break).
      const until = performance.now() + 100
      while (performance.now() < until);
      await turn()
      expect(lag.worstMs()).toBeGreaterThanOrEqual(80)
    } finally {
      lag.stop()
    }
    const seen = lag.worstMs()
    const until = performance.now() + 150
    while (performance.now() < until);
    await turn()
    expect(lag.worstMs()).toBe(seen)
  })
})
