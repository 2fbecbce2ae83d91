import { Database } from 'bun:sqlite'
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateId, storeKey } from '../../src/ids'
import { sqliteStore } from '../../src/stores/sqlite'
import { createRowCache } from '../../src/stores/sqlite-cache'
import { SCHEMA_VERSION } from '../../src/stores/sqlite-schema'
import { record, storeConformance } from '../../src/testing'

const dir = mkdtempSync(join(tmpdir(), 'sqlite-store-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const dbPath = () => join(dir, `s${n++}.db`)

storeConformance('sqlite', () => sqliteStore({ path: dbPath(), pruneIntervalMs: 0 }))

test('the schema is created, versioned, and set up for concurrent processes', async () => {
  const path = join(dir, 'nested', 'folder', 'sessions.db')
  const store = sqliteStore({ path, pruneIntervalMs: 0 })
  await store.close()
  expect(statSync(path).isFile()).toBe(true)
  const db = new Database(path)
  expect(db.query('PRAGMA user_version').get()).toEqual({ user_version: SCHEMA_VERSION })
  expect(db.query('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' })
  const index = db.query("SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'sessions'").all()
  expect(JSON.stringify(index)).toContain('expires_at')
  db.close()
})

test('a new file has 1 KiB pages (cheaper writes and checkpoints); a file made with 4 KiB pages keeps them and works', async () => {
  const path = dbPath()
  await sqliteStore({ path, pruneIntervalMs: 0 }).close()
  const made = new Database(path, { readonly: true })
  expect(made.query('PRAGMA page_size').get()).toEqual({ page_size: 1024 })
  made.close()

  const older = dbPath()
  const db = new Database(older)
  db.run('PRAGMA page_size = 4096')
  db.run('PRAGMA journal_mode = WAL')
  db.run('CREATE TABLE other (x)')
  db.close()
  const store = sqliteStore({ path: older, pruneIntervalMs: 0 })
  const k = storeKey(generateId())
  await store.create(k, record({ views: 1 }), 1000)
  expect(await store.increment(k, 'views', 1, { now: 1_700_000_000_001, maxBytes: 1000 })).toBe(2)
  await store.close()
  const reopened = new Database(older, { readonly: true })
  expect(reopened.query('PRAGMA page_size').get()).toEqual({ page_size: 4096 })
  reopened.close()
})

test('a database written by a newer schema is refused', () => {
  const path = dbPath()
  const db = new Database(path)
  db.run(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`)
  db.close()
  expect(() => sqliteStore({ path, pruneIntervalMs: 0 })).toThrow(/newer than this program supports/)
})

test('a version 2 database (before pointers died with their record) is migrated and stays readable', async () => {
  const path = dbPath()
  const [from, to] = [storeKey(generateId()), storeKey(generateId())]
  const at = 1_700_000_000_000
  // Version 2 as it was: a renamed record and its grace pointer, without the index on moved_to.
  const first = sqliteStore({ path, pruneIntervalMs: 0 })
  await first.create(from, record({ views: 3 }, at, at + 3_600_000, { subject: 'gus' }), 1000)
  await first.rename(from, to, at + 1, at + 30_000)
  await first.close()
  const old = new Database(path)
  old.run('DROP INDEX sessions_by_target')
  old.run('ALTER TABLE sessions DROP COLUMN remembered')
  old.run('PRAGMA user_version = 2')
  old.close()

  const store = sqliteStore({ path, pruneIntervalMs: 0 })
  const db = new Database(path, { readonly: true })
  expect(db.query('PRAGMA user_version').get()).toEqual({ user_version: SCHEMA_VERSION })
  expect(db.query("SELECT name FROM sqlite_schema WHERE name = 'sessions_by_target'").all()).toHaveLength(1)
  expect((await store.get(from, at + 2))?.movedTo).toBe(to)
  expect((await store.get(to, at + 2))?.data).toEqual({ views: 3 })
  await store.destroySubject('gus')
  expect(db.query('SELECT count(*) AS n FROM sessions').get()).toEqual({ n: 0 })
  db.close()
  await store.close()
})

test('a version 3 database (before remember me) is migrated: its sessions stay, not remembered, and can become so', async () => {
  const path = dbPath()
  const k = storeKey(generateId())
  const at = 1_700_000_000_000
  const first = sqliteStore({ path, pruneIntervalMs: 0 })
  await first.create(k, record({ views: 3 }, at, at + 3_600_000, { subject: 'ida', userAgent: 'Firefox' }), 1000)
  await first.close()
  const old = new Database(path)
  old.run('ALTER TABLE sessions DROP COLUMN remembered')
  old.run('PRAGMA user_version = 3')
  old.close()

  const store = sqliteStore({ path, pruneIntervalMs: 0 })
  const db = new Database(path, { readonly: true })
  expect(db.query('PRAGMA user_version').get()).toEqual({ user_version: SCHEMA_VERSION })
  const got = await store.get(k, at + 1)
  expect(got?.data).toEqual({ views: 3 })
  expect(got?.remembered).toBeUndefined()
  expect((await store.listSubject('ida', at + 1)).map((s) => s.remembered)).toEqual([false])
  await store.update(k, { set: {}, unset: [], remembered: true }, { now: at + 2, maxBytes: 1000 })
  expect((await store.get(k, at + 3))?.remembered).toBe(true)
  expect((await store.stats(at + 3)).remembered).toBe(1)
  db.close()
  await store.close()
})

test('a version 4 database (keyed WITHOUT ROWID) becomes a rowid table: records, pointers and subjects stay, and new rows append', async () => {
  const path = dbPath()
  const old = new Database(path)
  old.run('PRAGMA journal_mode = WAL')
  // Version 4 as it was made.
  old.run(`CREATE TABLE sessions (key TEXT PRIMARY KEY, data TEXT NOT NULL, created_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, renewed_at INTEGER NOT NULL DEFAULT 0, subject TEXT, user_agent TEXT, moved_to TEXT,
    remembered INTEGER NOT NULL DEFAULT 0) STRICT, WITHOUT ROWID`)
  old.run('CREATE INDEX sessions_by_expiry ON sessions (expires_at)')
  old.run('CREATE INDEX sessions_by_subject ON sessions (subject) WHERE subject IS NOT NULL')
  old.run('CREATE INDEX sessions_by_target ON sessions (moved_to) WHERE moved_to IS NOT NULL')
  const at = 1_700_000_000_000
  const [live, pointer, other] = [storeKey(generateId()), storeKey(generateId()), storeKey(generateId())]
  const insert = old.prepare('INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
  insert.run(live, '{"views":3}', at, at, at + 3_600_000, at, 'ida', 'Firefox', null, 1)
  insert.run(pointer, '{}', at, at, at + 30_000, at, null, null, live, 0)
  insert.run(other, '{"views":1}', at, at, at + 3_600_000, at, null, null, null, 0)
  old.run('PRAGMA user_version = 4')
  old.close()

  const store = sqliteStore({ path, pruneIntervalMs: 0 })
  const db = new Database(path, { readonly: true })
  expect(db.query('PRAGMA user_version').get()).toEqual({ user_version: SCHEMA_VERSION })
  const { sql } = db.query<{ sql: string }, []>("SELECT sql FROM sqlite_schema WHERE name = 'sessions'").get()!
  expect(sql).not.toContain('WITHOUT ROWID')
  const indexes = db.query<{ name: string }, []>("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'sessions' AND sql IS NOT NULL ORDER BY name").all()
  expect(indexes.map((i) => i.name)).toEqual(['sessions_by_expiry', 'sessions_by_subject', 'sessions_by_target'])
  expect(await store.get(live, at + 1)).toMatchObject({ data: { views: 3 }, subject: 'ida', userAgent: 'Firefox', remembered: true })
  expect((await store.get(pointer, at + 1))?.movedTo).toBe(live)
  expect(await store.increment(live, 'views', 1, { now: at + 2, maxBytes: 1000 })).toBe(4)
  const fresh = storeKey(generateId())
  await store.create(fresh, record({ views: 1 }, at, at + 3_600_000), 1000)
  const ids = db.query<{ key: string; id: number }, []>('SELECT key, id FROM sessions ORDER BY id').all()
  expect(ids.at(-1)?.key).toBe(fresh) // appended after the migrated rows
  expect(await store.destroySubject('ida')).toBe(1)
  expect(db.query('SELECT key FROM sessions ORDER BY id').all()).toEqual([{ key: other }, { key: fresh }])
  db.close()
  await store.close()
})

test('destroy and rename without grace leave no row behind; the pointer lookup uses its index', async () => {
  const path = dbPath()
  const store = sqliteStore({ path, pruneIntervalMs: 0 })
  const at = 1_700_000_000_000
  const [a, b, c] = [storeKey(generateId()), storeKey(generateId()), storeKey(generateId())]
  await store.create(a, record({ views: 1 }, at), 1000)
  await store.rename(a, b, at + 1, at + 30_000) // a pointer at a
  await store.rename(b, c, at + 2) // regenerate: neither a nor b opens anything
  const db = new Database(path, { readonly: true })
  expect(db.query('SELECT count(*) AS n FROM sessions').get()).toEqual({ n: 1 })
  await store.rename(c, a, at + 3, at + 30_000)
  await store.destroy(a)
  expect(db.query('SELECT count(*) AS n FROM sessions').get()).toEqual({ n: 0 })
  const plan = db.query('EXPLAIN QUERY PLAN DELETE FROM sessions WHERE moved_to = ?1').all('x')
  expect(JSON.stringify(plan)).toContain('sessions_by_target')
  db.close()
  await store.close()
})

test('reopening the same file keeps the records', async () => {
  const path = dbPath()
  const k = storeKey(generateId())
  const first = sqliteStore({ path, pruneIntervalMs: 0 })
  await first.create(k, record({ views: 7 }), 1000)
  await first.close()
  const second = sqliteStore({ path, pruneIntervalMs: 0 })
  expect((await second.get(k, 1_700_000_000_001))?.data).toEqual({ views: 7 })
  await second.close()
})

test('the pruner deletes expired records on its timer', async () => {
  const path = dbPath()
  const now = 1_700_000_000_000
  const store = sqliteStore({ path, pruneIntervalMs: 20, pruneBatchSize: 2, now: () => now + 10_000 })
  for (let i = 0; i < 5; i++) await store.create(storeKey(`dead${i}`), record({}, now, now + 1), 1000)
  await store.create(storeKey('live'), record({}, now, now + 60_000), 1000)
  await Bun.sleep(150)
  await store.close()
  const db = new Database(path)
  expect(db.query('SELECT count(*) AS n FROM sessions').get()).toEqual({ n: 1 })
  db.close()
})

test('a damaged record is no session, reported once', async () => {
  const path = dbPath()
  const warnings: string[] = []
  const store = sqliteStore({ path, pruneIntervalMs: 0, warn: (m) => warnings.push(m) })
  const k = storeKey('damaged')
  await store.create(k, record({ views: 1 }), 1000)
  const db = new Database(path)
  db.run("UPDATE sessions SET data = '{not json' WHERE key = ?", [k])
  db.close()
  expect(await store.get(k, 1_700_000_000_001)).toBeUndefined()
  expect(await store.get(k, 1_700_000_000_002)).toBeUndefined()
  expect(await store.increment(k, 'views', 1, { now: 1_700_000_000_003, expiresAt: 1_800_000_000_000, maxBytes: 1000 })).toBeUndefined()
  expect(warnings).toHaveLength(1)
  expect(warnings[0]).not.toContain(k)
  await store.close()
})

test('a closed store refuses work with an error', async () => {
  const store = sqliteStore({ path: dbPath(), pruneIntervalMs: 0 })
  await store.close()
  expect(store.ping()).rejects.toThrow(/closed/)
  expect(store.create(storeKey('x'), record({}), 1000)).rejects.toThrow(/closed/)
})

describe('the row cache', () => {
  const at = 1_700_000_000_001
  const write = { now: at, maxBytes: 1000 }
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

  test("another process's commit is seen by the next read and by every write", async () => {
    const path = dbPath()
    const store = sqliteStore({ path, pruneIntervalMs: 0 })
    const k = storeKey(generateId())
    await store.create(k, record({ views: 1, theme: 'dark' }), 1000)
    expect((await store.get(k, at))?.data).toEqual({ views: 1, theme: 'dark' }) // now cached
    const other = new Database(path)
    other.run(`UPDATE sessions SET data = '{"views":40,"theme":"light"}' WHERE key = ?`, [k])
    await nextTurn()
    expect((await store.get(k, at))?.data).toEqual({ views: 40, theme: 'light' })
    // A write in the same turn as the other commit still applies onto it, not onto the cache.
    other.run(`UPDATE sessions SET data = '{"views":100}' WHERE key = ?`, [k])
    expect(await store.increment(k, 'views', 1, write)).toBe(101)
    other.run('DELETE FROM sessions WHERE key = ?', [k])
    expect(await store.increment(k, 'views', 1, write)).toBeUndefined()
    other.close()
    await store.close()
  })

  test('a batch that rolls back leaves no trace in the cache', async () => {
    const path = dbPath()
    const store = sqliteStore({ path, pruneIntervalMs: 0 })
    const [k1, k2] = [storeKey(generateId()), storeKey(generateId())]
    await store.create(k1, record({ views: 1 }), 1000)
    await store.create(k2, record({ views: 1 }), 1000)
    const other = new Database(path)
    other.run(`CREATE TRIGGER refuse BEFORE UPDATE ON sessions WHEN NEW.key = '${k2}' BEGIN SELECT RAISE(ABORT, 'refused'); END`)
    other.close()
    await nextTurn()
    // Both in one grouped transaction: the first succeeds, the second's engine error rolls both back.
    const first = store.increment(k1, 'views', 1, write)
    const second = store.increment(k2, 'views', 1, write)
    const outcomes = await Promise.allSettled([first, second])
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected'])
    expect(String((outcomes[0] as PromiseRejectedResult).reason)).toContain('refused')
    expect((await store.get(k1, at))?.data).toEqual({ views: 1 })
    expect(await store.increment(k1, 'views', 1, write)).toBe(2)
    await store.close()
  })

  test('a row read once waits on probation; read again it is kept, and rows read once never push it out', () => {
    const db = new Database(':memory:')
    const cache = createRowCache<number>(db, 4000)
    cache.offer('a', 1)
    expect(cache.get('a')).toBe(1) // the same request's write finds it
    for (let i = 0; i < 2000; i++) cache.offer(`once${i}`, i)
    expect(cache.get('a')).toBeUndefined() // probation is small
    cache.offer('a', 2) // read from the table again: now kept
    for (let i = 0; i < 10_000; i++) cache.offer(`flood${i}`, i) // more rows than the cache holds, each read once
    expect(cache.get('a')).toBe(2)
    expect(cache.get('flood9999')).toBe(9999) // still on probation
    expect(cache.get('flood0')).toBeUndefined()
    db.close()
  })

  test('while few rows read from the table were read not long before, none joins the cache; when rereads return, rows join again', () => {
    const db = new Database(':memory:')
    const cache = createRowCache<number>(db, 4000)
    // A store far larger than the cache, visited at random: its keys are almost never read twice soon.
    for (let i = 0; i < 10_000; i++) cache.offer(`rare${i}`, i)
    cache.offer('x', 1)
    cache.offer('x', 2) // read again, not long after: it would join, but a cache this store churns is not worth the memory
    for (let i = 0; i < 2000; i++) cache.offer(`once${i}`, i)
    expect(cache.get('x')).toBeUndefined()
    expect(cache.get('once1999')).toBe(1999) // probation still serves a request's own writes
    // A working set that fits: its reads from the table are rereads, and its rows join again.
    for (let pass = 0; pass < 50; pass++) for (let i = 0; i < 100; i++) cache.offer(`hot${i}`, pass)
    for (let i = 0; i < 2000; i++) cache.offer(`later${i}`, i)
    expect(cache.get('hot0')).toBe(49)
    expect(cache.get('hot99')).toBe(49)
    db.close()
  })

  test('holds at most `capacity` rows, the newest ones: older generations are dropped whole', () => {
    const db = new Database(':memory:')
    const cache = createRowCache<number>(db, 4)
    for (let i = 0; i < 100; i++) cache.set(`k${i}`, i)
    const kept = Array.from({ length: 100 }, (_, i) => i).filter((i) => cache.get(`k${i}`) !== undefined)
    expect(kept.length).toBeLessThanOrEqual(4)
    expect(kept).toContain(99)
    expect(kept).toContain(98)
    cache.delete('k7')
    expect(cache.get('k7')).toBeUndefined()
    const off = createRowCache<number>(db, 0)
    off.set('k', 1)
    expect(off.get('k')).toBeUndefined()
    db.close()
  })
})

test('a row destroyed and created again by another process is the one the next write changes', async () => {
  // Writes name the cached row by its rowid: the re-created record has a new one, and the old
  // rowid must not be written (nor the write reported as saved).
  const path = dbPath()
  const [a, b] = [sqliteStore({ path, pruneIntervalMs: 0 }), sqliteStore({ path, pruneIntervalMs: 0 })]
  const at = 1_700_000_000_001
  const write = { now: at, maxBytes: 1000 }
  const k = storeKey(generateId())
  await a.create(k, record({ views: 1 }), 1000)
  expect(await a.increment(k, 'views', 1, write)).toBe(2) // cached in a, with its rowid
  await b.destroy(k)
  await b.create(k, record({ views: 100 }), 1000)
  expect(await a.increment(k, 'views', 1, write)).toBe(101)
  expect(await a.update(k, { set: { name: 'ada' }, unset: [] }, write)).toEqual({ views: 101, name: 'ada' })
  expect(await a.touch(k, at + 1, at + 60_000)).toBe(true)
  await Promise.all([a.close(), b.close()])
  const db = new Database(path, { readonly: true })
  expect(db.query('SELECT data, last_seen_at FROM sessions').all()).toEqual([{ data: '{"views":101,"name":"ada"}', last_seen_at: at + 1 }])
  db.close()
})

test('increments keep counting from what is stored: after an update, a take, a too-large write, and handed-out data', async () => {
  const path = dbPath()
  const store = sqliteStore({ path, pruneIntervalMs: 0 })
  const k = storeKey(generateId())
  const at = 1_700_000_000_001
  const write = { now: at, maxBytes: 1000 }
  await store.create(k, record({ views: 1 }), 1000)
  expect(await store.increment(k, 'views', 1, write)).toBe(2)
  await store.update(k, { set: { name: 'ada' }, unset: [] }, write)
  expect(await store.increment(k, 'views', 1, write)).toBe(3)
  expect(store.increment(k, 'x'.repeat(2000), 1, write)).rejects.toThrow()
  expect(await store.increment(k, 'views', 1, write)).toBe(4)
  const read = await store.get(k, at)
  expect(read?.data).toEqual({ views: 4, name: 'ada' })
  read!.data.views = 100 // the caller's copy, not the store's
  expect(await store.increment(k, 'views', 1, write)).toBe(5)
  expect(await store.take(k, ['name'], write)).toEqual({ name: 'ada' })
  expect(await store.increment(k, 'views', 1, write)).toBe(6)
  await store.close()
  const db = new Database(path, { readonly: true })
  expect(db.query('SELECT data FROM sessions').all()).toEqual([{ data: '{"views":6}' }])
  db.close()
})

describe('writes of one batch, held until its commit', () => {
  const at = 1_700_000_000_001
  const write = { now: at, maxBytes: 1000 }

  test('parallel increments of one session each get their own count, and the last one is stored', async () => {
    const path = dbPath()
    const store = sqliteStore({ path, pruneIntervalMs: 0 })
    const k = storeKey(generateId())
    await store.create(k, record({ views: 1 }), 1000)
    await store.get(k, at) // cached: the batch below finds the row in memory
    const counts = await Promise.all(Array.from({ length: 64 }, () => store.increment(k, 'views', 1, write)))
    expect(counts.sort((a, b) => a! - b!)).toEqual(Array.from({ length: 64 }, (_, i) => i + 2))
    const other = sqliteStore({ path, pruneIntervalMs: 0 })
    expect((await other.get(k, at))?.data).toEqual({ views: 65 })
    await Promise.all([store.close(), other.close()])
  })

  test('a rename, a destroy or a read of the table in the same batch sees the writes before it', async () => {
    const path = dbPath()
    // A 2-row cache: the misses of x and y push `evicted` out between its two increments.
    const store = sqliteStore({ path, pruneIntervalMs: 0, cacheSize: 2 })
    const [renamed, destroyed, evicted, x, y, moved] = Array.from({ length: 6 }, () => storeKey(generateId())) as [string, string, string, string, string, string]
    for (const k of [renamed, destroyed, evicted, x, y]) await store.create(k, record({ views: 1 }), 1000)
    // One batch: all of these are queued in the same turn of the event loop.
    const results = await Promise.all([
      store.increment(renamed, 'views', 1, write),
      store.rename(renamed, moved, at, at),
      store.increment(destroyed, 'views', 1, write),
      store.destroy(destroyed),
      store.increment(evicted, 'views', 1, write),
      store.increment(x, 'views', 1, write),
      store.increment(y, 'views', 1, write),
      store.increment(evicted, 'views', 5, write),
      store.increment(evicted, 'x'.repeat(2000), 1, write).catch((error: unknown) => error),
    ])
    expect(results.slice(0, 8)).toEqual([2, true, 2, undefined, 2, 2, 2, 7])
    expect(results[8]).toBeInstanceOf(Error)
    await store.close()
    const db = new Database(path, { readonly: true })
    const rows = Object.fromEntries((db.query('SELECT key, data FROM sessions').all() as { key: string; data: string }[]).map((r) => [r.key, r.data]))
    db.close()
    expect(rows).toEqual({ [moved]: '{"views":2}', [evicted]: '{"views":7}', [x]: '{"views":2}', [y]: '{"views":2}' })
  })
})

test('under steady writes the log restarts once it holds walRestartBytes, long before the backstop at four times that', async () => {
  const path = dbPath()
  const restartBytes = 4 * 1024 * 1024
  const store = sqliteStore({ path, pruneIntervalMs: 0, checkpointIntervalMs: 10, walRestartBytes: restartBytes })
  const at = Date.now()
  const keys = Array.from({ length: 1000 }, () => storeKey(generateId()))
  await Promise.all(keys.map((key) => store.create(key, record({ views: 0 }, at), 4096)))
  const write = { now: at, maxBytes: 4096 }
  let largest = 0
  let written = 0
  const until = performance.now() + 1500
  // Writes without a pause: the worker's checkpoints never catch up with the whole log.
  while (performance.now() < until) {
    const start = written % (keys.length - 64)
    await Promise.all(keys.slice(start, start + 64).map((key) => store.increment(key, 'views', 1, write)))
    written += 64
    largest = Math.max(largest, statSync(`${path}-wal`).size)
  }
  const stored = await Promise.all(keys.map((key) => store.get(key, at)))
  await store.close()
  expect(stored.reduce((sum, found) => sum + (found!.data.views as number), 0)).toBe(written)
  // Many times the restart size went through the log (a frame per write, at least), which never grew past twice that.
  expect(written * 1024).toBeGreaterThan(8 * restartBytes)
  expect(largest).toBeLessThan(2 * restartBytes)
})

test('a walRestartBytes that is no size is refused with its name, before the file is opened', () => {
  for (const walRestartBytes of [0, -1, Number.NaN, Infinity]) {
    const path = dbPath()
    expect(() => sqliteStore({ path, walRestartBytes })).toThrow(/walRestartBytes. must be a positive number of bytes/)
    expect(() => statSync(path)).toThrow()
  }
})
