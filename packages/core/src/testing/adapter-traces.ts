import { parseDictionary, parseItem, parseList, serializeDictionary, serializeList } from 'structured-headers'
import { describe, expect, it } from 'vitest'
import { fixedWindow } from '../policies/fixed-window.js'
import { slidingWindow } from '../policies/sliding-window.js'
import { tokenBucket } from '../policies/token-bucket.js'
import type { Policy } from '../policies/types.js'
import { memoryStore } from '../stores/memory-store.js'
import {
  type AdapterDriver,
  type BehaviourOptions,
  type BehaviourResponse,
  type RequestWithHeaders,
  rateLimitHeadersOf,
} from './adapter-behaviour.js'
import { manualClock } from './manual-clock.js'
import type { ModelDecision, ModelPart, TracePolicy } from './trace-model.js'
import { type TraceConfig, type TracePlan, type TraceStep, tracePlan } from './trace-plan.js'

// Seeded random traces through the adapters: each seed's plan (trace-plan.ts) runs on one app per
// framework version, and every answer is checked against the independent model (trace-model.ts)
// and DESIGN §5: the status, every rate-limit field (parsed as structured fields, then byte for
// byte), Retry-After, the problem body. The versions given to one call must also answer alike.
// A failure names the seed and step; replay it with `-t "seed <n>:"`.

/** The seeds run, each one trace of {@link TRACE_STEPS} requests (about 40 s for the six versions). */
const TRACE_SEEDS: readonly number[] = Array.from({ length: 40 }, (_, i) => i + 1)
const TRACE_STEPS = 80

const QUOTA_EXCEEDED = 'https://iana.org/assignments/http-problem-types#quota-exceeded'

/**
 * Runs every seed on each driver given (the framework versions of one adapter) and compares their
 * transcripts with each other.
 *
 * ```ts
 * runAdapterTraces([driver('express 5', express5), driver('express 4', express4)])
 * ```
 */
export function runAdapterTraces(drivers: readonly AdapterDriver[]): void {
  describe(`${drivers.map((d) => d.name).join(', ')}: seeded traces against the model`, () => {
    for (const seed of TRACE_SEEDS) {
      it(`seed ${seed}: every answer as the model says, alike on every version`, async () => {
        const plan = tracePlan(seed, TRACE_STEPS)
        const transcripts: string[][] = []
        for (const driver of drivers) transcripts.push(await runTrace(driver, plan))
        for (let i = 1; i < drivers.length; i++) {
          expect(transcripts[i], `${drivers[i]!.name} against ${drivers[0]!.name}, seed ${seed}`).toEqual(
            transcripts[0],
          )
        }
      })
    }
  })
}

/** Runs one plan on a fresh app; returns one line per answer: status, rate-limit fields, body. */
async function runTrace(driver: AdapterDriver, plan: TracePlan): Promise<string[]> {
  const clock = manualClock(plan.config.startMs)
  const warnings: string[] = []
  const options: BehaviourOptions = {
    ...limiterOptions(plan.config),
    store: memoryStore({ clock }),
    logger: { warn: (message: string) => void warnings.push(message) },
    ...callbacks(plan.config),
  }
  const server = await driver.start({ global: options })
  const transcript: string[] = []
  try {
    for (const [i, step] of plan.steps.entries()) {
      clock.set(step.atMs)
      const response = await server.get('/', step.headers)
      const where = `${driver.name}, seed ${plan.seed}, step ${i} (${JSON.stringify(step.headers)} at +${step.atMs - plan.config.startMs} ms; ${JSON.stringify(plan.config)})`
      checkAnswer(response, step, plan.config, where)
      transcript.push(JSON.stringify([response.status, rateLimitHeadersOf(response), response.body]))
    }
    expect(server.errors, `${driver.name}, seed ${plan.seed}: errors`).toEqual([])
    // The only warning a trace may cause: the unknown tier, which gets the default tier's policies.
    for (const w of warnings) expect(w, `${driver.name}, seed ${plan.seed}: warnings`).toContain('"gold"')
  } finally {
    await server.close()
  }
  return transcript
}

function productPolicy(p: TracePolicy): Policy {
  if (p.kind === 'token-bucket') {
    return tokenBucket({
      name: p.name,
      capacity: p.capacity,
      refillRate: p.refillRate,
      interval: p.intervalMs,
    })
  }
  const make = p.kind === 'fixed-window' ? fixedWindow : slidingWindow
  return make({ name: p.name, limit: p.limit, window: p.windowMs })
}

function limiterOptions(config: TraceConfig): BehaviourOptions {
  const options: BehaviourOptions = { mode: config.shadow ? 'shadow' : 'enforce' }
  if (config.headers !== undefined) options.headers = config.headers
  if (config.tiers === undefined) {
    const policies = config.policies!.map(productPolicy)
    options.policies = policies.length === 1 ? policies[0] : policies
  } else {
    options.tiers = Object.fromEntries(
      Object.entries(config.tiers).map(([t, ps]) => [t, ps.map(productPolicy)]),
    )
    options.defaultTier = config.defaultTier
  }
  return options
}

function callbacks(config: TraceConfig): BehaviourOptions {
  const answer = <T>(async: boolean, read: (req: RequestWithHeaders) => T) =>
    async ? async (req: RequestWithHeaders) => await Promise.resolve(read(req)) : read
  const header = (req: RequestWithHeaders, name: string) => req.headers[name] as string | undefined
  const options: BehaviourOptions = {}
  if (config.key) options.key = answer(config.async.key, (req) => header(req, 'x-id'))
  if (config.cost) options.cost = answer(config.async.cost, (req) => Number(header(req, 'x-cost') ?? 1))
  if (config.tier) options.tier = answer(config.async.tier, (req) => header(req, 'x-tier'))
  if (config.skip) options.skip = answer(config.async.skip, (req) => header(req, 'x-skip') === '1')
  return options
}

/** Whole seconds from `nowMs` to `atMs`, rounded up (DESIGN §5: delta seconds rounded up). */
const deltaSeconds = (atMs: number, nowMs: number) => Math.ceil((atMs - nowMs) / 1000)

function checkAnswer(response: BehaviourResponse, step: TraceStep, config: TraceConfig, where: string): void {
  const d = step.decision
  if (d === undefined) {
    expect([response.status, rateLimitHeadersOf(response), response.body], where).toEqual([
      200,
      {},
      JSON.stringify({ remaining: null }),
    ])
    return
  }
  const denied = !d.allowed && !config.shadow
  expect(response.status, where).toBe(denied ? 429 : 200)
  const formats =
    config.headers === undefined
      ? ['draft-8', 'legacy']
      : config.headers === false
        ? []
        : [config.headers].flat()
  const expected = expectedFields(d, formats, step.atMs, denied)
  checkParsed(response, d, formats, step.atMs, where)
  expect(rateLimitHeadersOf(response), `${where}: the fields byte for byte`).toEqual(expected)
  if (!denied) {
    expect(JSON.parse(response.body), where).toEqual({ remaining: d.binding.remaining })
    return
  }
  expect(response.headers.get('content-type'), where).toBe('application/problem+json')
  expect(response.headers.get('cache-control'), where).toBe('no-store')
  const body = JSON.parse(response.body) as Record<string, unknown>
  expect(body, where).toMatchObject({
    type: QUOTA_EXCEEDED,
    title: 'Too Many Requests',
    status: 429,
    'violated-policies': d.parts.filter((p) => !p.allowed).map((p) => p.name),
  })
  const name = d.binding.name
  if (Number.isFinite(d.binding.retryAfterMs)) {
    const seconds = expected['retry-after']
    expect(body.detail, where).toBe(`Rate limit exceeded for policy "${name}"; retry in ${seconds} s.`)
  } else {
    expect(body.detail, where).toContain(`"${name}"`)
  }
}

/** The rate-limit fields DESIGN §5 gives for `d` in `formats`, serialised canonically (RFC 9651). */
function expectedFields(d: ModelDecision, formats: readonly string[], nowMs: number, denied: boolean) {
  const b = d.binding
  const fields: Record<string, string> = {}
  const policyItem = (p: ModelPart) => serializeList([[p.quota, new Map([['w', p.periodMs / 1000]])]])
  for (const format of formats) {
    if (format === 'draft-8') {
      fields['ratelimit-policy'] = serializeList(
        d.parts.map((p) => [
          p.name,
          new Map([
            ['q', p.quota],
            ['w', p.periodMs / 1000],
          ]),
        ]),
      )
      fields.ratelimit = serializeList(
        d.parts.map((p) => [
          p.name,
          new Map([
            ['r', p.remaining],
            ['t', deltaSeconds(p.resetAtMs, nowMs)],
          ]),
        ]),
      )
    } else if (format === 'draft-7') {
      fields['ratelimit-policy'] = policyItem(b)
      fields.ratelimit = serializeDictionary({
        limit: b.quota,
        remaining: b.remaining,
        reset: deltaSeconds(b.resetAtMs, nowMs),
      })
    } else if (format === 'draft-6') {
      fields['ratelimit-policy'] = policyItem(b)
      fields['ratelimit-limit'] = String(b.quota)
      fields['ratelimit-remaining'] = String(b.remaining)
      fields['ratelimit-reset'] = String(deltaSeconds(b.resetAtMs, nowMs))
    } else {
      fields['x-ratelimit-limit'] = String(b.quota)
      fields['x-ratelimit-remaining'] = String(b.remaining)
      fields['x-ratelimit-reset'] = String(Math.ceil(b.resetAtMs / 1000))
    }
  }
  if (denied && Number.isFinite(b.retryAfterMs)) {
    fields['retry-after'] = String(Math.max(1, Math.ceil(b.retryAfterMs / 1000)))
  }
  return fields
}

/** Reads the structured fields back with an independent parser and compares them with the model. */
function checkParsed(
  response: BehaviourResponse,
  d: ModelDecision,
  formats: readonly string[],
  nowMs: number,
  where: string,
): void {
  const get = (name: string) => {
    const value = response.headers.get(name)
    expect(value, `${where}: ${name}`).not.toBeNull()
    return value!
  }
  const b = d.binding
  if (formats.includes('draft-8')) {
    const policy = parseList(get('ratelimit-policy')).map(([n, ps]) => [n, ps.get('q'), ps.get('w')])
    const state = parseList(get('ratelimit')).map(([n, ps]) => [n, ps.get('r'), ps.get('t')])
    expect(policy, `${where}: RateLimit-Policy`).toEqual(
      d.parts.map((p) => [p.name, p.quota, p.periodMs / 1000]),
    )
    expect(state, `${where}: RateLimit`).toEqual(
      d.parts.map((p) => [p.name, p.remaining, deltaSeconds(p.resetAtMs, nowMs)]),
    )
  }
  if (formats.includes('draft-7') || formats.includes('draft-6')) {
    const [quota, params] = parseItem(get('ratelimit-policy'))
    expect([quota, params.get('w')], `${where}: RateLimit-Policy`).toEqual([b.quota, b.periodMs / 1000])
  }
  if (formats.includes('draft-7')) {
    const dict = Object.fromEntries([...parseDictionary(get('ratelimit'))].map(([k, [v]]) => [k, v]))
    expect(dict, `${where}: RateLimit`).toEqual({
      limit: b.quota,
      remaining: b.remaining,
      reset: deltaSeconds(b.resetAtMs, nowMs),
    })
  }
}
