// What a fragment in the docs takes from elsewhere on its page (an `app`, the page's `policies`),
// by context name. A block says which contexts it uses in a comment right above its fence, which
// Markdown does not render:
//
//   <!-- snippet: express, vitest -->
//
// Each name is declared ambiently (`declare const`, import types), so a block that imports or
// declares a name itself keeps its own: the check drops the context's declaration of that name.
// A block with no comment must typecheck on its own, as a user would paste it.

import ts from 'typescript'

export interface Context {
  /** Name → the declaration put before the block. */
  names?: Record<string, string>
  /** Relative specifier → the module it resolves to (the user's own files a block imports). */
  modules?: Record<string, string>
}

const policies = "declare const policies: import('@floodgate/core').Policy[]"
const rateLimit = (framework: string) =>
  `declare const rateLimit: typeof import('@floodgate/${framework}').rateLimit`
const core = (name: string) => `declare const ${name}: typeof import('@floodgate/core').${name}`

export const CONTEXTS: Record<string, Context> = {
  /** An Express app, `@floodgate/express`'s `rateLimit`, the page's `policies` and `tiers`. */
  express: {
    names: {
      app: "declare const app: import('express').Express",
      rateLimit: rateLimit('express'),
      policies,
      tiers: "declare const tiers: Record<'free' | 'pro', import('@floodgate/core').Policy[]>",
    },
  },
  koa: { names: { app: "declare const app: import('koa')", rateLimit: rateLimit('koa'), policies } },
  fastify: {
    names: {
      app: "declare const app: import('fastify').FastifyInstance",
      handler: "declare const handler: import('fastify').RouteHandlerMethod",
      policies,
    },
  },
  /** `@floodgate/core`'s exports a page has imported, and what a limiter is made from. */
  core: {
    names: Object.fromEntries(
      ['createRateLimiter', 'memoryStore', 'fixedWindow', 'slidingWindow', 'tokenBucket', 'clientIpKey']
        .map((name) => [name, core(name)])
        .concat([
          ['policies', policies],
          ['options', "declare const options: import('@floodgate/core').RateLimiterOptions"],
        ]),
    ),
  },
  policies: { names: { policies } },
  limiter: {
    names: {
      limiter: "declare const limiter: import('@floodgate/core').RateLimiter",
      server: "declare const server: import('node:http').Server",
    },
  },
  /** The signed-in user of an app, and a WebSocket-like connection. */
  user: {
    names: {
      userId: 'declare const userId: string',
      user: "declare const user: { plan: 'free' | 'pro' }",
      socket: 'declare const socket: { emit(event: string, payload: unknown): void }',
      // Global: it holds in every block of the one program, as the .d.ts the docs ask for does in an app.
      'Express.Request': `declare global { namespace Express { interface Request {
        account?: { id: string; plan: 'free' | 'pro' }; user?: { id: string } } } }`,
    },
  },
  ioredis: {
    names: {
      Redis: "declare const Redis: typeof import('ioredis').Redis",
      Cluster: "declare const Cluster: typeof import('ioredis').Cluster",
      nodes: "declare const nodes: import('ioredis').ClusterNode[]",
      url: 'declare const url: string',
    },
  },
  'node-redis': {
    names: {
      createClient: "declare const createClient: typeof import('redis').createClient",
      createCluster: "declare const createCluster: typeof import('redis').createCluster",
      rootNodes: "declare const rootNodes: import('redis').RedisClusterOptions['rootNodes']",
      url: 'declare const url: string',
    },
  },
  upstash: {
    names: {
      Redis: "declare const Redis: typeof import('@upstash/redis').Redis",
      url: 'declare const url: string',
      token: 'declare const token: string',
    },
  },
  cors: { names: { cors: "declare const cors: typeof import('cors')" } },
  /** Vitest's globals (`globals: true`); Jest's have the same shape. */
  vitest: {
    names: Object.fromEntries(
      ['vi', 'describe', 'it', 'beforeEach', 'afterEach'].map((name) => [
        name,
        `declare const ${name}: typeof import('vitest').${name}`,
      ]),
    ),
  },
  /** The adapter guide's request type and Hono test server. */
  adapter: {
    names: {
      MyRequest: "type MyRequest = import('node:http').IncomingMessage",
      startHonoApp: "declare const startHonoApp: import('@floodgate/core/testing').AdapterDriver['start']",
    },
  },
  'my-store': {
    names: {
      myStore:
        "declare const myStore: (options: { clock: () => number }) => import('@floodgate/core').RateLimitStore",
    },
  },
  /** A Nest app on Express, its middleware consumer, and the user's own modules it imports. */
  nest: {
    names: {
      app: "declare const app: import('@nestjs/platform-express').NestExpressApplication",
      rateLimit: rateLimit('express'),
      consumer: "declare const consumer: import('@nestjs/common').MiddlewareConsumer",
      AuthMiddleware:
        "declare const AuthMiddleware: import('@nestjs/common').Type<import('@nestjs/common').NestMiddleware>",
      MeController: 'declare class MeController {}',
      HttpException: "declare const HttpException: typeof import('@nestjs/common').HttpException",
      HttpStatus: "declare const HttpStatus: typeof import('@nestjs/common').HttpStatus",
    },
    modules: {
      './app.module': 'export class AppModule {}',
      '../src/app.module': 'export class AppModule {}',
      './auth.controller': 'export class AuthController {}',
      './cats.controller': 'export class CatsController {}',
    },
  },
}

/**
 * The prelude and module stubs for `code` from the named contexts, less the names `code` imports or
 * declares itself; `unknown` lists the names that are no context.
 */
export function applyContexts(
  contexts: readonly string[],
  code: string,
): { prelude: string; modules: Record<string, string>; unknown: string[] } {
  const names = new Map<string, string>()
  const modules: Record<string, string> = {}
  // Own names only: `toString` is no context, though every object has one.
  const unknown = contexts.filter((name) => !Object.hasOwn(CONTEXTS, name))
  for (const context of contexts.flatMap((name) =>
    Object.hasOwn(CONTEXTS, name) ? [CONTEXTS[name]!] : [],
  )) {
    for (const [name, declaration] of Object.entries(context.names ?? {})) names.set(name, declaration)
    Object.assign(modules, context.modules)
  }
  const own = topLevelNames(code)
  const prelude = [...names].filter(([name]) => !own.has(name)).map(([, declaration]) => declaration)
  return { prelude: prelude.join('\n'), modules, unknown }
}

/** The names `code` imports or declares at its top level. */
function topLevelNames(code: string): Set<string> {
  const file = ts.createSourceFile('block.ts', code, ts.ScriptTarget.Latest)
  const names = new Set<string>()
  for (const statement of file.statements) {
    if (ts.isImportDeclaration(statement)) {
      const clause = statement.importClause
      if (clause?.name) names.add(clause.name.text)
      const bindings = clause?.namedBindings
      if (bindings && ts.isNamespaceImport(bindings)) names.add(bindings.name.text)
      if (bindings && ts.isNamedImports(bindings)) for (const e of bindings.elements) names.add(e.name.text)
    } else if (ts.isVariableStatement(statement)) {
      for (const d of statement.declarationList.declarations)
        for (const name of bound(d.name)) names.add(name)
    } else if ('name' in statement && statement.name && ts.isIdentifier(statement.name as ts.Node)) {
      names.add((statement.name as ts.Identifier).text) // functions, classes, types, interfaces, enums
    }
  }
  return names
}

/** The names a declaration binds: `app`, or each of `{ app, limits: [first] }`. */
function bound(name: ts.BindingName): string[] {
  if (ts.isIdentifier(name)) return [name.text]
  return name.elements.flatMap((element) => (ts.isOmittedExpression(element) ? [] : bound(element.name)))
}
