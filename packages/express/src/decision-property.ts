import { IncomingMessage } from 'node:http'
import type { Decision } from '@floodgate/core'
import type { Request } from 'express'

// `req.rateLimit`, the contract's name for the decision, as an accessor on Express's request
// prototype rather than a property of each request.
//
// Express swaps every request's prototype, so V8 gives each `req` a hidden class of its own, and
// adding a property to one builds yet another: about 20,000 instructions per request (valgrind, the
// HTTP bench's Express app), more than a quarter of what the whole middleware cost. An assignment
// that meets a setter on the prototype adds nothing to `req`. The decisions live in a WeakMap keyed
// by request, so they go with their requests and nothing the app does to `req` or `res` loses one.

const decisions = new WeakMap<object, unknown>()

/** How many apps deep a sub-app may be mounted for its requests' prototypes to be walked. */
const MAX_APP_DEPTH = 32

/** On a prototype: true once it carries the accessor, false where it must not (someone else's). */
const HAS_ACCESSOR = Symbol('floodgate.rateLimitAccessor')

const accessor: PropertyDescriptor = {
  configurable: true,
  enumerable: false,
  get(this: object): unknown {
    return decisions.get(this)
  },
  set(this: object, value: unknown) {
    decisions.set(this, value)
  },
}

/** Sets `req.rateLimit`: through the accessor where Express's prototype carries it, else on `req`. */
export function exposeDecision(req: Request, decision: Decision): void {
  if ((req as unknown as Record<symbol, unknown>)[HAS_ACCESSOR] === undefined) installAccessor(req)
  req.rateLimit = decision
}

/**
 * Puts the accessor on the prototype under every app of this copy of Express (its `request`
 * object, which each app's own `app.request` inherits from, through its parent apps' for a sub-app
 * mounted in a sub-app), so the decision stays visible when a sub-app hands the request back to
 * its parent. Anything that is not that shape is left alone, and `req` gets an ordinary property.
 */
function installAccessor(req: Request): void {
  const appRequest: unknown = (req.app as { request?: unknown } | undefined)?.request
  if (typeof appRequest !== 'object' || appRequest === null) return
  if (Object.getPrototypeOf(req) !== appRequest) return
  // Up past the parents' `app.request` objects to Express's own, the one right above Node's.
  let shared: object | null = Object.getPrototypeOf(appRequest)
  for (let depth = 0; shared !== null && depth < MAX_APP_DEPTH; depth++) {
    const above: object | null = Object.getPrototypeOf(shared)
    if (above === IncomingMessage.prototype || above === null) break
    shared = above
  }
  if (shared === null || shared === IncomingMessage.prototype || shared === Object.prototype) return
  if (Object.getPrototypeOf(shared) !== IncomingMessage.prototype) return
  const free = !Object.hasOwn(shared, 'rateLimit')
  if (free) Object.defineProperty(shared, 'rateLimit', accessor)
  Object.defineProperty(shared, HAS_ACCESSOR, { value: free })
}
