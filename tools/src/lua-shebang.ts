import { createHash } from 'node:crypto'

// Redis 7.0 knows shebang flags but not `allow-key-locking` (newer Redis and Upstash accept it), and
// rejects the whole script. @upstash/ratelimit's scripts start with that line.
const SHEBANG = /^#!lua[^\n]*/

export function sha1Hex(text: string): string {
  return createHash('sha1').update(text).digest('hex')
}

/**
 * Rewrites scripted commands so Redis 7.0 runs shebang scripts, and keeps EVALSHA working with the
 * hash of the original text (the one clients compute and send).
 */
export class ShebangScripts {
  /** sha1 of the original script → sha1 of the text Redis actually loaded. */
  readonly #servedShaByOriginal = new Map<string, string>()

  /** The shebang line is blanked rather than removed, so Lua error line numbers stay right. */
  strip(script: string): string {
    if (!SHEBANG.test(script)) return script
    const stripped = script.replace(SHEBANG, '')
    this.#servedShaByOriginal.set(sha1Hex(script), sha1Hex(stripped))
    return stripped
  }

  servedSha(sha: string): string {
    return this.#servedShaByOriginal.get(sha.toLowerCase()) ?? sha
  }

  /**
   * The command to send to Redis, and how to map its reply back (SCRIPT LOAD must answer with
   * the hash of the script the client sent, not of the one Redis saw).
   */
  rewrite(command: string[]): { command: string[]; reply?: (reply: unknown) => unknown } {
    const [name = '', first = '', second = ''] = command
    switch (name.toUpperCase()) {
      case 'EVAL':
      case 'EVAL_RO':
        return { command: [name, this.strip(first), ...command.slice(2)] }
      case 'EVALSHA':
      case 'EVALSHA_RO':
        return { command: [name, this.servedSha(first), ...command.slice(2)] }
      case 'SCRIPT': {
        const sub = first.toUpperCase()
        if (sub === 'LOAD' && SHEBANG.test(second)) {
          const originalSha = sha1Hex(second)
          return { command: ['SCRIPT', first, this.strip(second)], reply: () => originalSha }
        }
        if (sub === 'EXISTS') {
          return { command: ['SCRIPT', first, ...command.slice(2).map((sha) => this.servedSha(sha))] }
        }
        return { command }
      }
      default:
        return { command }
    }
  }
}
