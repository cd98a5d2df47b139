// The accuracy table: each policy on a simulated clock (limit 100 per second, one identifier).
// The simulation lives in core (packages/core/src/accuracy.ts) beside the test that asserts these
// figures, so the table and the CI check can never disagree.
import { fixedWindow, type Policy, slidingWindow, tokenBucket } from '@floodgate/core'
import { ACCURACY_SCENARIOS, measureAccuracy } from '../../packages/core/src/accuracy.js'
import { table } from './harness.js'
import type { Section } from './section.js'

const LIMIT = 100
const WINDOW_MS = 1000

const POLICIES: [string, Policy][] = [
  ['fixedWindow limit 100 / 1 s', fixedWindow({ limit: LIMIT, window: WINDOW_MS })],
  ['slidingWindow limit 100 / 1 s', slidingWindow({ limit: LIMIT, window: WINDOW_MS })],
  [
    'tokenBucket capacity 100, refill 100 / 1 s',
    tokenBucket({ capacity: LIMIT, refillRate: LIMIT, interval: WINDOW_MS }),
  ],
]

export const accuracySection: Section = {
  name: 'accuracy',
  description: 'admissions on a simulated clock, limit 100 per second, one identifier',
  async run() {
    console.log(
      'Simulated clock starting at an epoch-aligned instant (t = 1000 ms is a window boundary). ' +
        '"max in any 1 s" is exact over all admission times, intervals [s, s + 1000 ms); ' +
        '"share" is admitted ÷ (100 × duration in s).\n',
    )
    for (const scenario of ACCURACY_SCENARIOS) {
      const rows: string[][] = []
      for (const [name, policy] of POLICIES) {
        const r = await measureAccuracy(policy, scenario, LIMIT, WINDOW_MS)
        rows.push([
          name,
          `${r.admitted} / ${r.arrived}`,
          `${r.maxInAnyWindow} (${(r.maxInAnyWindow / LIMIT).toFixed(2)}× limit)`,
          `${(r.shareOfAllowedRate * 100).toFixed(1)} %`,
        ])
      }
      console.log(`### ${scenario.name} (duration ${scenario.durationMs / 1000} s)\n`)
      console.log(table(['policy', 'admitted / arrived', 'max in any 1 s', 'share of allowed rate'], rows))
      console.log('')
    }
    const [steady, burst] = ACCURACY_SCENARIOS
    const sliding = POLICIES[1]![1]
    const burstMax = (await measureAccuracy(sliding, burst!, LIMIT, WINDOW_MS)).maxInAnyWindow
    const steadyShare = (await measureAccuracy(sliding, steady!, LIMIT, WINDOW_MS)).shareOfAllowedRate
    console.log('Targets (slidingWindow):\n')
    console.log(
      `- boundary burst, max in any 1 s: ${(burstMax / LIMIT).toFixed(2)}× limit (target ≤ 1.10×) ${burstMax <= 1.1 * LIMIT ? 'met' : 'MISSED'}`,
    )
    console.log(
      `- steady 4× overload, share of allowed rate: ${(steadyShare * 100).toFixed(1)} % (target ≥ 98 %) ${steadyShare >= 0.98 ? 'met' : 'MISSED'}`,
    )
  },
}
