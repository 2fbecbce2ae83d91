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

test('increments keep working on the stored copy: after an update, a take, a too-large write, and handed-out data', async () => {
  const store = memoryStore({ pruneIntervalMs: 0 })
  const k = key()
  const at = 1_700_000_000_001
  await store.create(k, record({ views: 1 }), 1000)
  expect(await store.increment(k, 'views', 1, { now: at, maxBytes: 1000 })).toBe(2)
  await store.update(k, { set: { name: 'ada' }, unset: [] }, { now: at, maxBytes: 1000 })
  expect(await store.increment(k, 'views', 1, { now: at, maxBytes: 1000 })).toBe(3)
  // A write past maxBytes fails and leaves the record (and the next increment) as they were.
  expect(store.increment(k, 'x'.repeat(2000), 1, { now: at, maxBytes: 1000 })).rejects.toThrow()
  const read = await store.get(k, at)
  expect(read?.data).toEqual({ views: 3, name: 'ada' })
  read!.data.views = 100 // the caller's copy, not the store's
  expect(await store.increment(k, 'views', 1, { now: at, maxBytes: 1000 })).toBe(4)
  expect((await store.get(k, at))?.data).toEqual({ views: 4, name: 'ada' })
  expect(await store.take(k, ['name'], { now: at, maxBytes: 1000 })).toEqual({ name: 'ada' })
  expect(await store.increment(k, 'views', 1, { now: at, maxBytes: 1000 })).toBe(5)
  expect((await store.get(k, at))?.data).toEqual({ views: 5 })
  await store.close()
})

test('a full memory store evicts the least recently written records a 64th of maxRecords at a time', async () => {
  const store = memoryStore({ maxRecords: 128, pruneIntervalMs: 0 })
  const at = 1_700_000_000_002
  const keys = Array.from({ length: 129 }, () => key())
  for (const k of keys.slice(0, 128)) await store.create(k, record({}), 1000)
  await store.touch(keys[0]!, 1_700_000_000_001, 1_700_000_900_000)
  await store.create(keys[128]!, record({}), 1000)
  for (const k of [keys[1]!, keys[2]!]) expect(await store.get(k, at)).toBeUndefined()
  for (const k of [keys[0]!, keys[3]!, keys[128]!]) expect(await store.get(k, at)).toBeDefined()
  expect((await store.stats(at)).live).toBe(127)
  await store.close()
})

test('by default the memory store keeps 50,000 records: 20,001 sessions never evict the first one', async () => {
  // A default of 10,000 evicted returning visitors once a server held 10,000 sessions and a few
  // more: each then came back as a new visitor, and a new session evicted the next batch.
  const store = memoryStore({ pruneIntervalMs: 0 })
  const at = 1_700_000_000_002
  const keys = Array.from({ length: 20_001 }, () => key())
  for (const k of keys) await store.create(k, record({ views: 1 }), 1000)
  expect(await store.get(keys[0]!, at)).toBeDefined()
  expect((await store.stats(at)).live).toBe(20_001)
  await store.close()
})

test('a full memory store never evicts a record written within the last quarter of maxRecords writes', async () => {
  // Writes soon after a record's last move keep its place (no Map re-insert per write): the bound
  // that approximation keeps, over random creates and increments of a small store.
  const store = memoryStore({ maxRecords: 64, pruneIntervalMs: 0 })
  const at = 1_700_000_000_002
  const written: string[] = [] // every write's key, in order
  const keys: string[] = []
  for (let i = 0; i < 5_000; i++) {
    if (keys.length === 0 || Math.random() < 0.3) {
      const k = key()
      keys.push(k)
      await store.create(k, record({ views: 1 }), 1000)
      written.push(k)
    } else {
      const k = keys[Math.floor(Math.random() * keys.length)]!
      if ((await store.increment(k, 'views', 1, { now: at, maxBytes: 1000 })) !== undefined) written.push(k)
    }
    for (const k of new Set(written.slice(-16))) expect(await store.get(k, at)).toBeDefined()
  }
  expect((await store.stats(at)).live).toBeLessThanOrEqual(64)
  await store.close()
})

test('a large memory store spreads its records over several Maps: never more than maxRecords, the oldest evicted, every recent write kept', async () => {
  // 8,192 records are 8 Maps of 1,024, each with its own write order: eviction is by age within a Map.
  const store = memoryStore({ maxRecords: 8192, pruneIntervalMs: 0 })
  const at = 1_700_000_000_002
  const keys = Array.from({ length: 3 * 8192 }, () => key())
  for (const k of keys) await store.create(k, record({ views: 1 }), 1000)
  const { live } = await store.stats(at)
  expect(live).toBeLessThanOrEqual(8192)
  expect(live).toBeGreaterThan(8192 - 8 * 16) // each Map evicts a 64th of its 1,024 at a time
  for (const k of keys.slice(0, 1024)) expect(await store.get(k, at)).toBeUndefined()
  for (const k of keys.slice(-1024)) expect(await store.get(k, at)).toBeDefined()
  // Every Map answers for its own keys: increments, listings and deletes reach all of them.
  for (const k of keys.slice(-64)) expect(await store.increment(k, 'views', 1, { now: at, maxBytes: 1000 })).toBe(2)
  expect(await store.prune(at + 86_400_000 * 400, 100_000)).toBe(live)
  expect((await store.stats(at)).live).toBe(0)
  await store.close()
})
