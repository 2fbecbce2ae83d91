/**
 * @module sqlite
 * The default store: one bun:sqlite file, WAL, a busy timeout, a versioned schema with an
 * indexed expiry column, and prepared statements.
 *
 * Writes that arrive together are committed together: each write joins a queue that is flushed
 * in one IMMEDIATE transaction on the next turn of the event loop, and each caller is answered
 * only after that commit. Each write validates before it writes, so one request's bad value
 * fails that request alone; an engine fault (disk full, lock timeout) fails the whole batch,
 * and nothing in it is reported as saved.
 */
import { Database, SQLiteError } from 'bun:sqlite'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { SessionData, SessionRecord, SessionStore } from '../store'
import { addToField, applyChanges, damagedRecordReporter, decodeData, encodeData, startPruner } from './records'
import { startCheckpointer } from './sqlite-checkpointer'
import { migrate } from './sqlite-schema'

export type SqliteStoreOptions = {
  /** Database file; its folder is created. `':memory:'` works for tests. */
  path: string
  /** How long a write waits for another process's lock before failing. @default 5000 */
  busyTimeoutMs?: number
  /**
   * `NORMAL` survives a process crash (SIGKILL) with every commit; `FULL` also survives power loss,
   * at an fsync per commit. @default 'NORMAL'
   */
  synchronous?: 'NORMAL' | 'FULL'
  /**
   * Milliseconds between WAL checkpoints run by a worker thread, off the event loop; 0 leaves
   * checkpoints to SQLite, inline in whichever commit crosses 1000 pages. @default 200
   */
  checkpointIntervalMs?: number
  /** Milliseconds between sweeps of expired records; 0 turns the sweep off. @default 60000 */
  pruneIntervalMs?: number
  /** Records deleted per statement while sweeping. @default 500 */
  pruneBatchSize?: number
  now?: () => number
  warn?: (message: string) => void
  /** Told how many expired records each sweep deleted. */
  onPruned?: (count: number) => void
}

type Row = { data: string; created_at: number; last_seen_at: number; expires_at: number }
type Op = { run: () => unknown; resolve: (value: any) => void; reject: (error: unknown) => void }

/**
 * @example
 * const store = sqliteStore({ path: './data/sessions.db' })
 * new Elysia().use(session({ store, secrets: [process.env.SESSION_SECRET!] }))
 */
export function sqliteStore(options: SqliteStoreOptions): SessionStore {
  const { path, busyTimeoutMs = 5000, synchronous = 'NORMAL', pruneIntervalMs = 60_000 } = options
  const { pruneBatchSize = 500, now = Date.now, warn = console.warn, checkpointIntervalMs = 200 } = options
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path, { create: true, strict: true })
  db.run(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`)
  db.run('PRAGMA journal_mode = WAL')
  db.run(`PRAGMA synchronous = ${synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`)
  migrate(db)
  const checkpointer = path !== ':memory:' && checkpointIntervalMs > 0 ? startCheckpointer(db, path, checkpointIntervalMs, warn) : undefined

  const reportDamaged = damagedRecordReporter(warn)
  const selectLive = db.prepare<Row, [string, number]>(
    'SELECT data, created_at, last_seen_at, expires_at FROM sessions WHERE key = ?1 AND expires_at > ?2'
  )
  const insert = db.prepare(
    'INSERT INTO sessions (key, data, created_at, last_seen_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)'
  )
  const writeData = db.prepare(
    'UPDATE sessions SET data = ?2, last_seen_at = ?3, expires_at = ?4 WHERE key = ?1'
  )
  // One statement for the common increment; the WHERE admits only rows where it is certainly
  // valid (live, a number or absent, far from the size limit). Anything else takes the checked path.
  const incrementInPlace = db.prepare<{ value: number }, [string, string, number, number, number, number]>(
    `UPDATE sessions
     SET data = json_set(data, ?2, coalesce(json_extract(data, ?2), 0) + ?3), last_seen_at = ?4, expires_at = ?5
     WHERE key = ?1 AND expires_at > ?4
       AND CASE WHEN json_valid(data) THEN coalesce(json_type(data, ?2), 'integer') IN ('integer', 'real') END
       AND octet_length(data) + length(?2) + 40 <= ?6
     RETURNING json_extract(data, ?2) AS value`
  )
  const touchLive = db.prepare(
    'UPDATE sessions SET last_seen_at = ?2, expires_at = ?3 WHERE key = ?1 AND expires_at > ?2'
  )
  const renameLive = db.prepare('UPDATE sessions SET key = ?2 WHERE key = ?1 AND expires_at > ?3')
  const remove = db.prepare('DELETE FROM sessions WHERE key = ?1')
  const pruneExpired = db.prepare(
    'DELETE FROM sessions WHERE key IN (SELECT key FROM sessions WHERE expires_at <= ?1 LIMIT ?2)'
  )
  const userVersion = db.prepare('PRAGMA user_version')
  const countByExpiry = db.prepare<{ live: number; expired: number }, [number]>(
    'SELECT count(*) FILTER (WHERE expires_at > ?1) AS live, count(*) FILTER (WHERE expires_at <= ?1) AS expired FROM sessions'
  )

  /** Live, decodable data at `key`, or undefined (a damaged record is reported once). */
  const readData = (key: string, at: number): [Row, SessionData] | undefined => {
    const row = selectLive.get(key, at)
    if (!row) return undefined
    const data = decodeData(row.data)
    if (!data) return void reportDamaged(key)
    return [row, data]
  }

  let queue: Op[] = []
  let closed = false
  const runBatch = db.transaction((batch: Op[], outcomes: PromiseSettledResult<unknown>[]) => {
    for (const op of batch) {
      try {
        outcomes.push({ status: 'fulfilled', value: op.run() })
      } catch (error) {
        if (error instanceof SQLiteError) throw error // an engine fault: roll the batch back
        outcomes.push({ status: 'rejected', reason: error })
      }
    }
  })
  const flush = () => {
    const batch = queue
    if (batch.length === 0) return
    queue = []
    const outcomes: PromiseSettledResult<unknown>[] = []
    try {
      runBatch.immediate(batch, outcomes)
    } catch (error) {
      for (const op of batch) op.reject(error)
      return
    }
    batch.forEach((op, i) => {
      const outcome = outcomes[i]!
      if (outcome.status === 'fulfilled') op.resolve(outcome.value)
      else op.reject(outcome.reason)
    })
  }
  const write = <T>(run: () => T): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (closed) return reject(new Error('session store is closed'))
      queue.push({ run, resolve, reject })
      if (queue.length === 1) setImmediate(flush)
    })

  const store: SessionStore = {
    async get(key, at) {
      const found = readData(key, at)
      if (!found) return undefined
      const [row, data] = found
      return { data, createdAt: row.created_at, lastSeenAt: row.last_seen_at, expiresAt: row.expires_at }
    },
    async create(key, record: SessionRecord, maxBytes) {
      const json = encodeData(record.data, maxBytes)
      return write(() => {
        insert.run(key, json, record.createdAt, record.lastSeenAt, record.expiresAt)
      })
    },
    update(key, changes, { now: at, expiresAt, maxBytes }) {
      return write(() => {
        const found = readData(key, at)
        if (!found) return undefined
        const merged = applyChanges(found[1], changes)
        writeData.run(key, encodeData(merged, maxBytes), at, expiresAt)
        return merged
      })
    },
    increment(key, field, by, { now: at, expiresAt, maxBytes }) {
      const path = field.includes('"') ? undefined : `$."${field}"`
      return write(() => {
        const row = path && incrementInPlace.get(key, path, by, at, expiresAt, maxBytes)
        if (row) return row.value
        const found = readData(key, at)
        if (!found) return undefined
        const value = addToField(found[1], field, by)
        writeData.run(key, encodeData(found[1], maxBytes), at, expiresAt)
        return value
      })
    },
    touch(key, at, expiresAt) {
      return write(() => touchLive.run(key, at, expiresAt).changes > 0)
    },
    rename(fromKey, toKey, at) {
      return write(() => renameLive.run(fromKey, toKey, at).changes > 0)
    },
    destroy(key) {
      return write(() => {
        remove.run(key)
      })
    },
    prune(at, limit) {
      return write(() => pruneExpired.run(at, limit).changes)
    },
    async stats(at) {
      if (closed) throw new Error('session store is closed')
      const { live, expired } = countByExpiry.get(at)!
      const sizes = [path, `${path}-wal`].map((file) => (path === ':memory:' ? 0 : Bun.file(file).size))
      return { live, expired, bytes: sizes[0]! + sizes[1]! }
    },
    async ping() {
      if (closed) throw new Error('session store is closed')
      userVersion.get()
    },
    async close() {
      if (closed) return
      stopPruner()
      flush()
      closed = true
      await checkpointer?.stop()
      db.close(false)
    },
  }
  const stopPruner = startPruner(store, {
    intervalMs: pruneIntervalMs,
    batchSize: pruneBatchSize,
    now,
    onError: (error) => warn(`session store: pruning failed: ${String(error)}`),
    onPruned: options.onPruned,
  })
  return store
}

