/**
 * One part of `pnpm bench`. A section lives in its own file, exports a `Section`, and is listed once
 * in `main.ts`. It prints its own tables (Markdown, so they paste into docs/benchmarks.md).
 */
export interface Section {
  /** The name given on the command line: `pnpm bench <name>`. */
  name: string
  /** One line shown by `pnpm bench --help`. */
  description: string
  run(): Promise<void>
}
