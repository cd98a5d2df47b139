import { describe } from 'vitest'
import { exampleSmokeTests, MEMORY } from '../shared/smoke-suite.js'
import { start } from './server.js'

describe('koa example', () => {
  exampleSmokeTests(start, MEMORY)
})
