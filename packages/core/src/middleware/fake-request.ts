import type { RequestBinding } from './request-handler.js'

// A request without a framework, for the core's own tests of the request handler.

export interface FakeRequest {
  ip: string
  headers: Record<string, string>
}

/** The binding of a FakeRequest: its address as given, its headers, no proxy trusted. */
export const fakeBinding: RequestBinding<FakeRequest> = {
  ip: (req) => req.ip,
  headers: (req) => req.headers,
  trustsProxy: () => false,
}
