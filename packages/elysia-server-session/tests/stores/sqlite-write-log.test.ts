/**
 * The SQLite store's write log (sqlite-write-log.ts): data writes are appended and folded into the
 * table later. What it must keep: exact counts across processes, a bounded log, and every query
 * that reads the table by other columns (prune, subjects, stats) seeing the logged writes.
 */
import { Database } from 'bun:sqlite'
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateId, storeKey } from '../../src/ids'
import { sqliteStore, type SqliteStoreOptions } from '../../src/stores/sqlite'
import { record } from '../../src/testing'

const dir = mkdtempSync(join(tmpdir(), 'sqlite-write-log-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const dbPath = () => join(dir, `w${n++}.db`)
const at = 1_700_000_000_000
const write = { now: at, maxBytes: 1000 }
const open = (path: string, options: Partial<SqliteStoreOptions> = {}) => sqliteStore({ path, pruneIntervalMs: 0, checkpointIntervalMs: 0, ...options })
const newKeys = (count: number) => Array.from({ length: count }, () => storeKey(generateId()))

/** Reads `query` from the file on a connection of its own. */
function peek<T>(path: string, query: string): T[] {
  const db = new Database(path, { readonly: true })
  try {
    return db.query(query).all() as T[]
  } finally {
    db.close()
  }
}
const views = (path: string, from: 'sessions' | 'sessions_current') =>
  Object.fromEntries(peek<{ key: string; views: number }>(path, `SELECT key, json_extract(data, '$.views') AS views FROM ${from} WHERE moved_to IS NULL`).map((r) => [r.key, r.views]))
const logged = (path: string) => peek<{ n: number }>(path, 'SELECT count(*) AS n FROM session_writes')[0]!.n

test('the log keeps at most writeLogEntries entries; sessions_current shows every write while it runs, the table once it closes', async () => {
  const path = dbPath()
  const store = open(path, { writeLogEntries: 10 })
  const keys = newKeys(5)
  for (const key of keys) await store.create(key, record({ views: 0 }, at), 1000)
  for (let wave = 0; wave < 20; wave++) {
    await Promise.all(keys.map((key, i) => store.increment(key, 'views', i + 1, write)))
    expect(logged(path)).toBeLessThanOrEqual(10)
  }
  const expected = Object.fromEntries(keys.map((key, i) => [key, 20 * (i + 1)]))
  expect(views(path, 'sessions_current')).toEqual(expected)
  expect(views(path, 'sessions')).not.toEqual(expected) // the newest writes are still in the log
  await store.close()
  expect(views(path, 'sessions')).toEqual(expected)
  expect(logged(path)).toBe(0)
})

test('two processes on one file, each folding the other\'s writes, count exactly; renames and destroys in between', async () => {
  const path = dbPath()
  // Tiny logs and no row cache: every batch folds, and every read goes to the table and the log.
  const [a, b] = [open(path, { writeLogEntries: 3, cacheSize: 0 }), open(path, { writeLogEntries: 2, cacheSize: 0 })]
  const keys = newKeys(4)
  for (const key of keys) await a.create(key, record({ views: 0 }, at), 1000)
  const counts = new Map(keys.map((key) => [key, 0]))
  for (let wave = 0; wave < 30; wave++) {
    const results = await Promise.all(keys.flatMap((key) => [a.increment(key, 'views', 1, write), b.increment(key, 'views', 2, write)]))
    for (const key of keys) counts.set(key, counts.get(key)! + 3)
    expect(results.filter((value) => value === undefined)).toEqual([])
    if (wave === 10) {
      // Renamed by b while a's newest writes of it may still be in the log.
      const renamed = storeKey(generateId())
      expect(await b.rename(keys[0]!, renamed, at, at)).toBe(true)
      counts.set(renamed, counts.get(keys[0]!)!)
      counts.delete(keys[0]!)
      keys[0] = renamed
    }
    if (wave === 20) {
      await a.destroy(keys[1]!)
      counts.delete(keys[1]!)
      keys.splice(1, 1)
    }
  }
  for (const key of keys) {
    expect((await a.get(key, at))?.data).toEqual({ views: counts.get(key)! })
    expect((await b.get(key, at))?.data).toEqual({ views: counts.get(key)! })
  }
  expect(views(path, 'sessions_current')).toEqual(Object.fromEntries(counts))
  await Promise.all([a.close(), b.close()])
  expect(views(path, 'sessions')).toEqual(Object.fromEntries(counts))
})

test('a process that catches up on more entries than its ring holds keeps them all, in order', async () => {
  const path = dbPath()
  const [busy, quiet] = [open(path, { writeLogEntries: 5_000 }), open(path, { writeLogEntries: 0, cacheSize: 0 })]
  // The early keys' newest entries come first in the log: lost from the ring, they would not be folded.
  const [early, late] = [newKeys(10), newKeys(40)]
  for (const key of [...early, ...late]) await busy.create(key, record({ views: 0 }, at), 1000)
  expect((await quiet.get(early[0]!, at))?.data).toEqual({ views: 0 }) // quiet has read the log, still empty
  for (let wave = 1; wave <= 2; wave++) await Promise.all(early.map((key) => busy.increment(key, 'views', 1, write)))
  for (let wave = 1; wave <= 60; wave++) await Promise.all(late.map((key) => busy.increment(key, 'views', 1, write)))
  expect(logged(path)).toBe(2_420) // more than the 1,024 entries quiet's ring starts with
  for (const key of late) expect((await quiet.get(key, at))?.data).toEqual({ views: 60 })
  expect(await quiet.increment(late[0]!, 'views', 1, write)).toBe(61) // and its fold takes them in order
  expect(logged(path)).toBe(0)
  expect(views(path, 'sessions')).toEqual(Object.fromEntries([...early.map((key) => [key, 2]), ...late.map((key, i) => [key, i === 0 ? 61 : 60])]))
  for (const key of early) expect((await busy.get(key, at))?.data).toEqual({ views: 2 })
  await Promise.all([busy.close(), quiet.close()])
})

test('a rename keeps the writes still in the log, in this process and in another one', async () => {
  const path = dbPath()
  const [a, b] = [open(path), open(path)]
  const [from, to] = newKeys(2)
  await a.create(from!, record({ views: 1 }, at), 1000)
  expect(await a.increment(from!, 'views', 1, write)).toBe(2)
  expect(await a.update(from!, { set: { theme: 'dark' }, unset: [] }, write)).toEqual({ views: 2, theme: 'dark' })
  expect(await a.rename(from!, to!, at, at)).toBe(true)
  expect((await a.get(to!, at))?.data).toEqual({ views: 2, theme: 'dark' })
  expect((await b.get(to!, at))?.data).toEqual({ views: 2, theme: 'dark' })
  expect(await b.increment(to!, 'views', 1, write)).toBe(3)
  await Promise.all([a.close(), b.close()])
  expect(views(path, 'sessions')).toEqual({ [to!]: 3 })
})

test('a store opened on a file whose log was never folded (a crash) reads the logged writes and folds them', async () => {
  const path = dbPath()
  const crashed = open(path)
  const [k] = newKeys(1)
  await crashed.create(k!, record({ views: 1 }, at), 1000)
  for (let i = 0; i < 5; i++) await crashed.increment(k!, 'views', 1, write)
  expect(logged(path)).toBe(5) // never closed: its writes are only in the log
  const next = open(path, { writeLogEntries: 0 })
  expect((await next.get(k!, at))?.data).toEqual({ views: 6 })
  expect(await next.increment(k!, 'views', 1, write)).toBe(7)
  expect(logged(path)).toBe(0) // nothing kept: the next write folded the log
  expect(views(path, 'sessions')).toEqual({ [k!]: 7 })
  await next.close()
})

test('prune keeps a session whose deadline a logged write moved, and deletes one whose logged deadline passed too', async () => {
  const path = dbPath()
  const store = open(path)
  const [moved, idle] = newKeys(2)
  await store.create(moved!, record({ views: 1 }, at, at + 1_000), 1000)
  await store.create(idle!, record({ views: 1 }, at, at + 1_000), 1000)
  expect(await store.touch(moved!, at + 500, at + 60_000)).toBe(true)
  expect(await store.increment(idle!, 'views', 1, write)).toBe(2) // logged, deadline kept
  expect(await store.prune!(at + 2_000, 100)).toBe(1)
  expect((await store.get(moved!, at + 2_000))?.data).toEqual({ views: 1 })
  expect(await store.get(idle!, at + 2_000)).toBeUndefined()
  expect((await store.stats!(at + 2_000)).live).toBe(1)
  await store.close()
})

test('stats counts through the log: a deadline moved by a logged touch is live', async () => {
  const path = dbPath()
  const store = open(path)
  const keys = newKeys(3)
  for (const key of keys) await store.create(key, record({ views: 1 }, at, at + 1_000), 1000)
  expect(await store.touch(keys[0]!, at + 500, at + 60_000)).toBe(true)
  expect(await store.update(keys[1]!, { set: {}, unset: [], remembered: true }, { ...write, expiresAt: at + 90_000 })).toEqual({ views: 1 })
  expect(await store.stats!(at + 2_000)).toMatchObject({ live: 2, expired: 1, remembered: 1 })
  await store.close()
})

test('subjects bound and unbound by logged writes are what listSubject and destroySubject see', async () => {
  const path = dbPath()
  const store = open(path)
  const [bound, unbound, other] = newKeys(3)
  await store.create(bound!, record({ views: 1 }, at), 1000)
  await store.create(unbound!, record({ views: 1 }, at, undefined, { subject: 'ada' }), 1000)
  await store.create(other!, record({ views: 1 }, at, undefined, { subject: 'bob' }), 1000)
  expect(await store.update(bound!, { set: { views: 2 }, unset: [], subject: 'ada' }, write)).toEqual({ views: 2 })
  expect(await store.update(unbound!, { set: {}, unset: [], subject: null }, write)).toEqual({ views: 1 })
  expect((await store.listSubject!('ada', at)).map((s) => s.key)).toEqual([bound!])
  expect(await store.destroySubject!('ada')).toBe(1)
  expect(await store.get(bound!, at)).toBeUndefined()
  expect((await store.get(unbound!, at))?.subject).toBeUndefined()
  expect((await store.get(other!, at))?.subject).toBe('bob')
  await store.close()
})

test('a fold copies a moved deadline into the table, also for a row read again from the table since', async () => {
  const path = dbPath()
  const store = open(path, { writeLogEntries: 1, cacheSize: 0 })
  const [k, other] = newKeys(2)
  await store.create(k!, record({ views: 1 }, at, at + 1_000), 1000)
  await store.create(other!, record({ views: 1 }, at, at + 1_000), 1000)
  const deadline = () => peek<{ e: number }>(path, `SELECT expires_at AS e FROM sessions WHERE key = '${k}'`)[0]!.e
  expect(await store.touch(k!, at + 10, at + 50_000)).toBe(true) // logged: the one entry the log keeps
  expect(await store.increment(k!, 'views', 1, write)).toBe(2) // deadline kept; the touch's entry is folded
  expect(await store.increment(other!, 'views', 1, write)).toBe(2) // and this one folds k's increment
  expect(deadline()).toBe(at + 50_000)
  await store.close()
})

test('a writeLogEntries that is not a whole number of 0 or more is refused with its name', () => {
  for (const writeLogEntries of [-1, 1.5, Number.NaN]) {
    expect(() => open(dbPath(), { writeLogEntries })).toThrow(/writeLogEntries/)
  }
})
