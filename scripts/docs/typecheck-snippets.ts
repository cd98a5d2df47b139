// Typechecks code blocks from the docs in one TypeScript program, with the repo's compiler settings
// (tsconfig.base.json: strict, ESM) and each block a module of its own.
//
// `@floodgate/*` resolves to the packages' sources (the `@floodgate/source` condition of their
// `exports`, as in `tsc -b` and vitest): nothing has to be built first, and a checkout whose dist/
// is stale cannot pass a docs change that its sources break. The packed declarations are checked
// by scripts/consumer-test.ts. Any other package resolves from the workspace package that depends
// on it, so a block gets the version the workspace pins (`express` is Express 5 with its @types).
import { readdirSync, readFileSync } from 'node:fs'
import { isBuiltin } from 'node:module'
import { join } from 'node:path'
import ts from 'typescript'

export interface Snippet {
  /** Where the block is, `docs/stores.md` (relative to the repo root). */
  file: string
  /** 1-based line of the block's first code line in `file`. */
  line: number
  code: string
  /** Declarations put before the block, for the names a fragment takes from elsewhere. */
  prelude: string
  /** Relative specifier → the source of the module it resolves to (a user's own file). */
  modules: Record<string, string>
}

/** Each dependency of a workspace package → the directory of the first package that declares it. */
function declaringPackages(root: string): Map<string, string> {
  const workspace = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8')
  const patterns = [...workspace.matchAll(/^\s+-\s+(\S+)\s*$/gm)].map((m) => m[1]!)
  const dirs = patterns.flatMap((pattern) =>
    pattern.endsWith('/*')
      ? readdirSync(join(root, pattern.slice(0, -2))).map((name) => join(root, pattern.slice(0, -2), name))
      : [join(root, pattern)],
  )
  const declaring = new Map<string, string>()
  for (const dir of [...dirs, root]) {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
    for (const name of Object.keys({ ...manifest.dependencies, ...manifest.devDependencies })) {
      if (!declaring.has(name)) declaring.set(name, dir)
    }
  }
  return declaring
}

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!
}

function compilerOptions(root: string): ts.CompilerOptions {
  const config = ts.readConfigFile(join(root, 'tsconfig.base.json'), ts.sys.readFile)
  if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, '\n'))
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root)
  return {
    ...options,
    composite: false,
    declaration: false,
    emitDeclarationOnly: false,
    noEmit: true,
    moduleDetection: ts.ModuleDetectionKind.Force, // a block without an import is a module all the same
    experimentalDecorators: true, // Nest's parameter decorators (docs/nestjs.md), as Nest's tsconfig has
  }
}

interface VirtualFile {
  text: string
  /** The block this file holds, with the number of prelude lines before it; unset for a module stub. */
  snippet?: Snippet
  preludeLines?: number
}

/** The blocks as files under the repo root (`docs/stores.md.42.ts`), with the modules they import. */
function virtualFiles(root: string, snippets: readonly Snippet[]): Map<string, VirtualFile> {
  const files = new Map<string, VirtualFile>()
  for (const snippet of snippets) {
    const path = join(root, `${snippet.file}.${snippet.line}.ts`)
    const preludeLines = snippet.prelude === '' ? 0 : snippet.prelude.split('\n').length
    const text = preludeLines === 0 ? snippet.code : `${snippet.prelude}\n${snippet.code}`
    files.set(path, { text, snippet, preludeLines })
    for (const [specifier, source] of Object.entries(snippet.modules)) {
      files.set(stubPath(path, specifier), { text: source })
    }
  }
  return files
}

const stubPath = (snippetPath: string, specifier: string) =>
  `${snippetPath}.modules/${specifier.replace(/^[./]+/, '')}.ts`

/** One message per error, `docs/stores.md:44: TS2304 Cannot find name 'policies'.` */
export function typecheckSnippets(root: string, snippets: readonly Snippet[]): string[] {
  const options = compilerOptions(root)
  const declaring = declaringPackages(root)
  const files = virtualFiles(root, snippets)
  const where = (file: VirtualFile, line: number) =>
    line < file.preludeLines!
      ? `${file.snippet!.file}:${file.snippet!.line} (its prelude)`
      : `${file.snippet!.file}:${file.snippet!.line + line - file.preludeLines!}`

  const host = ts.createCompilerHost(options, true)
  const { fileExists, readFile, getSourceFile } = host
  host.fileExists = (name) => files.has(name) || fileExists.call(host, name)
  host.readFile = (name) => files.get(name)?.text ?? readFile.call(host, name)
  host.getSourceFile = (name, languageVersion, onError) => {
    const virtual = files.get(name)
    if (virtual) return ts.createSourceFile(name, virtual.text, languageVersion, true)
    return getSourceFile.call(host, name, languageVersion, onError)
  }
  const cache = ts.createModuleResolutionCache(root, (name) => name, options)
  const unknownPackages: string[] = []
  host.resolveModuleNameLiterals = (literals, containingFile, redirected, resolveOptions, containing) =>
    literals.map((literal) => {
      let from = containingFile
      const file = files.get(containingFile)
      if (file?.snippet?.modules[literal.text] !== undefined) {
        const resolvedFileName = stubPath(containingFile, literal.text)
        return { resolvedModule: { resolvedFileName, extension: ts.Extension.Ts } }
      }
      if (file?.snippet && !literal.text.startsWith('.') && !isBuiltin(literal.text)) {
        const dir = declaring.get(packageName(literal.text))
        const { line } = containing.getLineAndCharacterOfPosition(literal.getStart())
        if (dir === undefined) unknownPackages.push(`${where(file, line)}: imports ${literal.text}`)
        else from = join(dir, 'snippet.ts')
      }
      const mode = ts.getModeForUsageLocation(containing, literal, resolveOptions)
      return ts.resolveModuleName(literal.text, from, resolveOptions, host, cache, redirected, mode)
    })

  const program = ts.createProgram({ rootNames: [...files.keys()], options, host })
  const messages = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()].map(format)
  for (const [name, file] of files) {
    if (!file.snippet) continue
    const sourceFile = program.getSourceFile(name)!
    const diagnostics = [
      ...program.getSyntacticDiagnostics(sourceFile),
      ...program.getSemanticDiagnostics(sourceFile),
    ]
    for (const diagnostic of diagnostics) {
      const { line } = sourceFile.getLineAndCharacterOfPosition(diagnostic.start ?? 0)
      messages.push(`${where(file, line)}: ${format(diagnostic)}`)
    }
  }
  const unknown = unknownPackages.map((m) => `${m}, which no workspace package depends on`)
  return [...unknown, ...messages]
}

function format(diagnostic: ts.Diagnostic): string {
  return `TS${diagnostic.code} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`
}
