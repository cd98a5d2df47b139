// Messages between the HTTP benchmark and its server processes (Node IPC, JSON-serialised).
import type { Variant } from './http-apps.js'

/**
 * Parent → server: `begin` opens a measurement, `end` closes it; `select` makes a switchable server
 * serve one of its variants.
 */
export type ParentMessage = { type: 'begin' } | { type: 'end' } | { type: 'select'; variant: Variant }

/** Server → parent. */
export type ChildMessage =
  | { type: 'ready'; port: number }
  | { type: 'begun' }
  /** The path that now serves the selected variant. */
  | { type: 'selected'; path: string }
  /**
   * CPU time (user + system, µs) the server process used since `begin`, the system (kernel) part of
   * it, and the requests it received.
   */
  | {
      type: 'ended'
      cpuMicros: number
      systemMicros: number
      requests: number
      /** A `switch-timed` server: the variant's own time and the requests it handed on (else 0). */
      ownMicros: number
      ownRequests: number
    }
