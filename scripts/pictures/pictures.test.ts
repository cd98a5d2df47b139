import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { tokenBucket } from '../../packages/core/src/index.js'
import { PICTURES_DIR, renderPictures } from './pictures.js'
import { PICTURED_POLICIES, simulate, TRACE_MS } from './simulate.js'

const dir = fileURLToPath(new URL(`../../${PICTURES_DIR}`, import.meta.url))

function admittedBetween(requests: { atMs: number; allowed: boolean }[], fromMs: number, toMs: number) {
  return requests.filter((r) => r.allowed && r.atMs >= fromMs && r.atMs < toMs).length
}

describe('algorithm pictures', () => {
  it('regenerating gives exactly the committed SVG files (run `pnpm docs:pictures` after a change)', async () => {
    const files = await renderPictures()
    const committed = (await readdir(dir)).filter((name) => name.endsWith('.svg')).sort()
    expect(committed).toEqual([...files.keys()].sort())
    for (const [name, svg] of files) {
      expect(await readFile(join(dir, name), 'utf8'), name).toBe(svg)
    }
  })

  it('renders the same bytes on a second run', async () => {
    const first = await renderPictures()
    const second = await renderPictures()
    expect([...second]).toEqual([...first])
  })

  it('runs every policy on the same trace', async () => {
    for (const policy of PICTURED_POLICIES) {
      const { requests } = await simulate(policy)
      expect(requests.map((r) => r.atMs)).toEqual(TRACE_MS)
    }
  })

  it('shows the fixed window admitting twice its limit across a window boundary', async () => {
    const [fixed, sliding] = PICTURED_POLICIES
    const fixedRun = await simulate(fixed!)
    const slidingRun = await simulate(sliding!)
    // 700–1275 ms straddles the boundary at 1 s: 10 admitted on each side.
    expect(admittedBetween(fixedRun.requests, 700, 1_300)).toBe(20)
    expect(admittedBetween(slidingRun.requests, 700, 1_300)).toBeLessThan(15)
  })

  it("matches docs/algorithms.md's table of what each policy admits on the trace", async () => {
    const page = await readFile(fileURLToPath(new URL('../../docs/algorithms.md', import.meta.url)), 'utf8')
    // | `fixedWindow({ limit: 10, window: '1 s' })` | 50 | 28 | 20 | 10 |
    const rows = [...page.matchAll(/^\| `(\w+)\(\{[^`]*\}\)` \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$/gm)]
    expect(rows.map((row) => row[1])).toEqual(['fixedWindow', 'slidingWindow', 'tokenBucket'])
    for (const [i, policy] of PICTURED_POLICIES.entries()) {
      const { requests } = await simulate(policy)
      const admitted = requests.filter((r) => r.allowed).length
      expect(
        [
          admitted,
          requests.length - admitted,
          admittedBetween(requests, 700, 1_300),
          admittedBetween(requests, 1_600, 3_000),
        ],
        rows[i]![1],
      ).toEqual(rows[i]!.slice(2).map(Number))
    }
  })

  it('samples the quota without changing decisions', async () => {
    const bucket = tokenBucket({ capacity: 2, refillRate: 1, interval: '1 s' })
    const { requests, samples } = await simulate(bucket, [0, 10, 20, 1_020])
    expect(requests.map((r) => r.allowed)).toEqual([true, true, false, true])
    expect(samples.find((s) => s.atMs === 500)?.remaining).toBe(0)
    expect(samples.find((s) => s.atMs === 1_010)?.remaining).toBe(1)
  })
})
