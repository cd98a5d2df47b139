// The AppModule of docs/nestjs.md ("Express platform"): 5 logins per 15 minutes on POST /auth/login,
// the limiter created in configure(). Its store counts on a clock the tests move.
import { fixedWindow, memoryStore } from '@floodgate/core'
import { type ManualClock, manualClock } from '@floodgate/core/testing'
import { rateLimit } from '@floodgate/express'
import {
  Controller,
  Get,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  Post,
  Req,
  RequestMethod,
} from '@nestjs/common'
import type { Request } from 'express'

@Controller('auth')
export class AuthController {
  @Post('login')
  login(@Req() req: Request) {
    return { remaining: req.rateLimit?.remaining }
  }

  @Get('login')
  form() {
    return 'the login form'
  }
}

@Controller('cats')
export class CatsController {
  @Get()
  list(@Req() req: Request) {
    return { remaining: req.rateLimit?.remaining }
  }
}

/** The page's AppModule, counting on `clock`. */
export function appModule(clock: ManualClock) {
  @Module({ controllers: [AuthController, CatsController] })
  class AppModule implements NestModule {
    configure(consumer: MiddlewareConsumer) {
      consumer
        .apply(
          rateLimit({
            policies: fixedWindow({ name: 'login', limit: 5, window: '15 m' }),
            store: memoryStore({ clock }),
          }),
        )
        .forRoutes({ path: 'auth/login', method: RequestMethod.POST })
    }
  }
  return AppModule
}

export const AppModule = appModule(manualClock(0))
