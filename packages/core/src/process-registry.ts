/**
 * What every copy of @floodgate/core in one process shares. An app can load two: the ESM and the
 * CommonJS build (an ESM app with a CommonJS dependency that requires Floodgate, a bundle of both),
 * or two installed versions. Module-level state would then be one per copy, and a limiter made by
 * one copy, passed to an adapter of the other, would go unrecognised: a request passing both
 * mounts counted twice, a shadow limiter's headers taking over, two limiters sharing counters
 * unwarned. Kept on `globalThis` under a registered symbol instead; the `v1` names the shape of
 * what is kept, which a later version changes by using another name.
 */
export interface ProcessRegistry {
  /**
   * Per store (or per client, for stores of one client: see COUNTER_SPACE), the open limiters'
   * claims on its counters (`${prefix}\0${counterName}` → count).
   */
  readonly countersInUse: WeakMap<object, Map<string, number>>
  /** Per limiter, the symbol marking a request it has counted (see request-handler.ts). */
  readonly markOfLimiter: WeakMap<object, symbol>
  /** Decisions of shadow-mode limiters that a middleware passed on. */
  readonly shadowDecisions: WeakSet<object>
  /** Redis clients already warned about their settings. */
  readonly warnedClients: WeakSet<object>
}

const KEY = Symbol.for('floodgate.processRegistry.v1')

function processRegistry(): ProcessRegistry {
  const holder = globalThis as { [KEY]?: ProcessRegistry }
  const existing = holder[KEY]
  if (existing !== undefined) return existing
  const created: ProcessRegistry = {
    countersInUse: new WeakMap(),
    markOfLimiter: new WeakMap(),
    shadowDecisions: new WeakSet(),
    warnedClients: new WeakSet(),
  }
  Object.defineProperty(holder, KEY, { value: created })
  return created
}

export const registry: ProcessRegistry = processRegistry()

/**
 * A store's property naming where its counters live when that is not the store alone: the Redis or
 * Upstash client, which two stores made from one client share, counting in the same keys.
 */
export const COUNTER_SPACE = Symbol.for('floodgate.counterSpace.v1')

/** Where `store` counts: its COUNTER_SPACE, else the store itself. */
export function counterSpace(store: object): object {
  const space: unknown = (store as { [COUNTER_SPACE]?: unknown })[COUNTER_SPACE]
  return space !== null && typeof space === 'object' ? space : store
}
