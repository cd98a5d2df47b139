// The ```ts blocks of a Markdown page, with the line they start on and the `<!-- snippet: ... -->`
// comment right above them, if any (how docs-snippets.test.ts is told what a fragment uses).

export interface CodeBlock {
  /** 1-based line of the block's first code line (the one after the opening fence). */
  line: number
  code: string
  /** What `<!-- snippet: ... -->` on the line above the fence says, trimmed; undefined without one. */
  directive: string | undefined
}

const DIRECTIVE = /^<!--\s*snippet:(.*?)-->\s*$/

/** Every ```ts block of `markdown`, in order. */
export function tsBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split('\n')
  const blocks: CodeBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trimEnd() !== '```ts') continue
    const end = lines.findIndex((line, j) => j > i && line.trimEnd() === '```')
    if (end < 0) throw new Error(`line ${i + 1}: \`\`\`ts block never closed`)
    const directive = DIRECTIVE.exec(lines[i - 1] ?? '')?.[1]?.trim()
    blocks.push({ line: i + 2, code: lines.slice(i + 1, end).join('\n'), directive })
    i = end
  }
  return blocks
}
