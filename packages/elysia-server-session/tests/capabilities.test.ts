/**
 * The store contract's split: a store with the core alone serves requests; the parts that need a
 * capability find it, or fail at once with an error that names what is missing.
 */
import { expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { capabilityMethods, hasCapability, memoryStore, requireCapability, session, subjectSessions } from '../src'
import type { SessionStore, StoreCapability } from '../src'
import { SECRET, client, handleWith } from './helpers'

const CORE = ['get', 'create', 'update', 'increment', 'touch', 'rename', 'destroy'] as const
const capabilities = Object.keys(capabilityMethods) as StoreCapability[]

/** The core methods of a full store and nothing else: no capability, no ping, no close. */
function coreOnly(): SessionStore {
  const full = memoryStore({ pruneIntervalMs: 0 })
  return Object.fromEntries(CORE.map((method) => [method, full[method].bind(full)])) as unknown as SessionStore
}

test('a bundled store has every capability; a core-only store has none', () => {
  const full = memoryStore({ pruneIntervalMs: 0 })
  expect(capabilities.filter((capability) => hasCapability(full, capability))).toEqual(['subjects', 'prune', 'stats', 'destroyAll'])
  expect(capabilities.filter((capability) => hasCapability(coreOnly(), capability))).toEqual([])
  // A capability is all of its methods: half of one is not it.
  const half: SessionStore = Object.assign(coreOnly(), { listSubject: full.listSubject })
  expect(hasCapability(half, 'subjects')).toBe(false)
})

test('a store with the core alone serves sessions', async () => {
  const app = new Elysia()
    .use(session<{ views: number }>({ store: coreOnly(), secrets: [SECRET] }))
    .get('/', async ({ session }) => String(await session.increment('views')))
  const browser = client(handleWith(app))
  expect(await (await browser.request('/')).text()).toBe('1')
  expect(await (await browser.request('/')).text()).toBe('2')
})

test('requireCapability names the missing capability, its methods, and who needs it', () => {
  expect(() => requireCapability(coreOnly(), 'prune', 'my pruner')).toThrow(
    new TypeError('my pruner: the store lacks the prune capability (prune)')
  )
  const full = memoryStore({ pruneIntervalMs: 0 })
  expect(requireCapability(full, 'stats', 'metrics')).toBe(full)
})

test('subjectSessions refuses a store without subjects when it is set up, not at the first request', () => {
  expect(() => subjectSessions(coreOnly())).toThrow(
    new TypeError('subjectSessions: the store lacks the subjects capability (listSubject, destroySubject)')
  )
})
