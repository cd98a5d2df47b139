// Nest apps as docs/nestjs.md builds them, without a main.ts: NestFactory.create, what main.ts
// would do before listen() (app.use, app.register), then init(). No logger: a test's 500s are
// expected.
import type { INestApplication, Type } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import type { NestExpressApplication } from '@nestjs/platform-express'
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify'
import request from 'supertest'

export async function expressApp(
  module: Type,
  setUp?: (app: NestExpressApplication) => unknown,
): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(module, { logger: false })
  await setUp?.(app)
  await app.init()
  return app
}

/** On the Fastify platform, trusting the proxy at 127.0.0.1 as the page does (or as `trustProxy` says). */
export async function fastifyApp(
  module: Type,
  setUp?: (app: NestFastifyApplication) => unknown,
  trustProxy: string | number = '127.0.0.1',
): Promise<NestFastifyApplication> {
  // A hop count is refused by the types of the Fastify Nest 12 pins (fastify-platform.test.ts).
  const adapter = new FastifyAdapter({ trustProxy: trustProxy as string })
  const app = await NestFactory.create<NestFastifyApplication>(module, adapter, { logger: false })
  await setUp?.(app)
  await app.init()
  await app.getHttpAdapter().getInstance().ready()
  return app
}

export interface Answer {
  status: number
  headers: Record<string, string | undefined>
  body: string
}

/** One request to either app: supertest on Express, inject() on Fastify. */
export async function send(
  app: INestApplication,
  method: 'GET' | 'POST',
  url: string,
  headers: Record<string, string> = {},
  remoteAddress?: string,
): Promise<Answer> {
  // The app is a proxy that forwards inject() to the adapter without having it (`'inject' in app` is false).
  if (app.getHttpAdapter().getType() === 'fastify') {
    const res = await (app as NestFastifyApplication).inject({
      method,
      url,
      headers,
      ...(remoteAddress ? { remoteAddress } : {}),
    })
    return { status: res.statusCode, headers: flat(res.headers), body: res.body }
  }
  if (remoteAddress !== undefined) throw new Error('supertest sends from 127.0.0.1')
  const res = await request(app.getHttpServer())[method === 'GET' ? 'get' : 'post'](url).set(headers)
  return { status: res.status, headers: flat(res.headers), body: res.text }
}

function flat(headers: Record<string, unknown>): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, value?.toString()]))
}

/** The rate-limit fields of an answer (draft-8 and legacy, the default formats) and Retry-After. */
export function rateLimitFields(answer: Answer): Record<string, string> {
  const names = [
    'ratelimit',
    'ratelimit-policy',
    'x-ratelimit-limit',
    'x-ratelimit-remaining',
    'x-ratelimit-reset',
    'retry-after',
  ]
  return Object.fromEntries(
    names.flatMap((name) => (answer.headers[name] === undefined ? [] : [[name, answer.headers[name]!]])),
  )
}
