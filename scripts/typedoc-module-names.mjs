// TypeDoc plugin: names each module after the import specifier users write
// (`@floodgate/core/redis`) instead of its file path (`core/src/redis`).
import { Converter, ReflectionKind } from 'typedoc'

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const module of context.project.getReflectionsByKind(ReflectionKind.Module)) {
      const id = context.project.getSymbolIdFromReflection(module)
      const match = id && /^src\/(?:(.+)\/)?index\.ts$/.exec(id.packagePath)
      if (match) module.name = match[1] ? `${id.packageName}/${match[1]}` : id.packageName
    }
  })
}
