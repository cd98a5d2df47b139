/** Where Floodgate writes warnings. `false` silences them. */
export type Logger =
  | {
      /** Receives one warning line, prefixed with `[floodgate]` and its code. */
      warn(message: string): void
    }
  | false

/**
 * Runtime warnings shown once per code (store failures once per `repeatMs`), so a misconfiguration
 * is visible without flooding the log. `logger: false` silences them all.
 */
export class Warnings {
  private readonly seen = new Map<string, number>()

  constructor(
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Writes `message` unless `code` was written within `repeatMs` (default: never again). */
  warn(code: string, message: string, repeatMs = Number.POSITIVE_INFINITY): void {
    if (this.logger === false) return
    const now = this.clock()
    const last = this.seen.get(code)
    if (last !== undefined && now - last < repeatMs) return
    if (this.seen.size >= 1000 && last === undefined) return
    this.seen.set(code, now)
    this.logger.warn(`[floodgate] ${code}: ${message}`)
  }
}
