import { expect, test } from 'bun:test'
import { memoryStore } from '../../src/stores/memory'
import { key, record, storeConformance } from '../../src/testing'

storeConformance('memory', () => memoryStore({ pruneIntervalMs: 0 }))

test('the memory store is bounded: the least recently written record goes first', async () => {
  const store = memoryStore({ maxRecords: 3, pruneIntervalMs: 0 })
  const keys = [key(), key(), key(), key()]
  for (const k of keys.slice(0, 3)) await store.create(k, record({}), 1000)
  await store.touch(keys[0]!, 1_700_000_000_001, 1_700_000_900_000)
  await store.create(keys[3]!, record({}), 1000)
  expect(await store.get(keys[1]!, 1_700_000_000_002)).toBeUndefined()
  for (const k of [keys[0]!, keys[2]!, keys[3]!]) expect(await store.get(k, 1_700_000_000_002)).toBeDefined()
  await store.close()
})

test('the memory store warns when started in production', () => {
  const warnings: string[] = []
  const previous = Bun.env.NODE_ENV
  Bun.env.NODE_ENV = 'production'
  try {
    memoryStore({ pruneIntervalMs: 0, warn: (m) => warnings.push(m) }).close()
  } finally {
    Bun.env.NODE_ENV = previous
  }
  expect(warnings).toEqual([expect.stringContaining('production')])
})
