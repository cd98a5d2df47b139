import { comparisonSvg, policySvg } from './render-svg.js'
import { PICTURED_POLICIES, type Simulation, simulate } from './simulate.js'

/** Where the pictures live, relative to the repository root. */
export const PICTURES_DIR = 'docs/pictures'

const FILE_OF = {
  'fixed-window': 'fixed-window.svg',
  'sliding-window': 'sliding-window.svg',
  'token-bucket': 'token-bucket.svg',
} as const

/** Every picture: file name (in `PICTURES_DIR`) → SVG text. */
export async function renderPictures(): Promise<Map<string, string>> {
  const simulations: Simulation[] = []
  for (const policy of PICTURED_POLICIES) simulations.push(await simulate(policy))
  const files = new Map<string, string>()
  for (const s of simulations) files.set(FILE_OF[s.policy.kind], policySvg(s))
  files.set('comparison.svg', comparisonSvg(simulations))
  return files
}
