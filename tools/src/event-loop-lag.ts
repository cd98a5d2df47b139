import { monitorEventLoopDelay } from 'node:perf_hooks'

/** The histogram's sampling interval: a sample is the time between two of its ticks. */
const RESOLUTION_MS = 10

export interface EventLoopLag {
  /** The most this process's timers have run late since the watch began, in ms (0 on time). */
  worstMs(): number
  stop(): void
}

/**
 * Watches how late this process's timers run. A deadline is a timer: on a loaded machine it fires
 * late by as much as the event loop is held up, so a test bounding an answer in real time adds
 * this to its margin instead of failing whenever the machine is busy.
 */
export function watchEventLoopLag(): EventLoopLag {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  histogram.enable()
  return {
    worstMs: () => Math.max(0, histogram.max / 1e6 - RESOLUTION_MS),
    stop: () => histogram.disable(),
  }
}
