/**
 * The SQLite store as operators see it: counts that do not stall the event loop, a write probe
 * at open, and readiness that follows whether writes work.
 */
import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { sqliteStore } from '../../src/stores/sqlite'
import { migrate } from '../../src/stores/sqlite-schema'
import { tempDir } from '../helpers'

const dir = tempDir('sqlite-ops-')

/** A database file holding `rows` live records, written directly. */
function filled(name: string, rows: number, at: number): string {
  const path = join(dir, name)
  const db = new Database(path, { create: true, strict: true })
  db.run('PRAGMA journal_mode = WAL')
  migrate(db)
  const insert = db.prepare(
    `INSERT INTO sessions (key, data, created_at, last_seen_at, expires_at, renewed_at) VALUES (?1, '{"views":1}', ?2, ?2, ?3, ?2)`
  )
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(`key-${i}`, at, i % 10 === 0 ? at - 1 : at + 3_600_000)
  })()
  db.close()
  return path
}

test('stats counts on the worker: exact, and the event loop is not held while a large table is counted', async () => {
  const at = Date.now()
  const rows = 300_000
  const store = sqliteStore({ path: filled('large.db', rows, at), pruneIntervalMs: 0 })
  await Bun.sleep(50) // the worker has opened its connection
  // The synchronous part of the call is what a scrape or a request next to it would wait for.
  const started = performance.now()
  const pending = store.stats(at)
  const held = performance.now() - started
  const stats = await pending
  const counted = performance.now() - started
  expect(stats).toMatchObject({ live: rows * 0.9, expired: rows * 0.1 })
  // Counting 300,000 rows on the event loop takes tens of milliseconds: a hundredth of that here.
  expect(held).toBeLessThan(Math.max(2, counted / 10))
  await store.close()
  await expect(store.stats(at)).rejects.toThrow(/closed/)
})

test('stats without a worker (checkpoints inline) still counts exactly', async () => {
  const at = Date.now()
  const store = sqliteStore({ path: filled('small.db', 1000, at), pruneIntervalMs: 0, checkpointIntervalMs: 0 })
  expect(await store.stats(at)).toMatchObject({ live: 900, expired: 100 })
  await store.close()
})
