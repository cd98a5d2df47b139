import { exampleSmokeSuites } from '../shared/smoke-suite.js'
import { start } from './server.js'

exampleSmokeSuites('fastify', start)
