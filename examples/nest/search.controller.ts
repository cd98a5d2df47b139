// The SearchController of docs/nestjs.md ("Fastify platform"), as the page gives it (page-code.test.ts).
import { Controller, Get, Req } from '@nestjs/common'
import { RouteConfig } from '@nestjs/platform-fastify'
import type { FastifyRequest } from 'fastify'
import { fixedWindow } from '@floodgate/core'
import type { RateLimitRouteOptions } from '@floodgate/fastify'

@Controller()
export class SearchController {
  @Get('search')
  @RouteConfig({
    rateLimit: { policies: fixedWindow({ name: 'search', limit: 10, window: '1 m' }) } satisfies RateLimitRouteOptions,
  })
  search(@Req() req: FastifyRequest) {
    return { remaining: req.rateLimit?.remaining }
  }

  @Get('health')
  @RouteConfig({ rateLimit: false })
  health() {
    return 'ok'
  }
}
