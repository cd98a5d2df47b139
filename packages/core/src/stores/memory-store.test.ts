import { runStoreConformance } from '@floodgate/core/testing'
import { memoryStore } from './memory-store.js'

runStoreConformance({ name: 'memory', createStore: ({ clock }) => memoryStore({ clock }) })
