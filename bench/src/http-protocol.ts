// Messages between the HTTP benchmark and its server processes (Node IPC, JSON-serialised).

/** Parent → server: `begin` opens a measurement, `end` closes it. */
export type ParentMessage = { type: 'begin' } | { type: 'end' }

/** Server → parent. */
export type ChildMessage =
  | { type: 'ready'; port: number }
  | { type: 'begun' }
  /** CPU time (user + system, µs) the server process used and requests it received since `begin`. */
  | { type: 'ended'; cpuMicros: number; requests: number }
