/**
 * @module sqlite
 * The default store: one bun:sqlite file, WAL, a busy timeout, a versioned schema with an
 * indexed expiry column, prepared statements, grouped commits (`sqlite-batch.ts`) and WAL
 * checkpoints on a worker thread (`sqlite-checkpointer.ts`).
 */
import { Database } from 'bun:sqlite'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { SessionData, SessionRecord, SessionStore, SessionSummary } from '../store'
import { addToField, applyChanges, damagedRecordReporter, decodeData, encodeData, startPruner } from './records'
import { createWriteBatcher } from './sqlite-batch'
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

type Row = {
  data: string
  created_at: number
  last_seen_at: number
  expires_at: number
  renewed_at: number
  subject: string | null
  user_agent: string | null
  moved_to: string | null
}
const COLUMNS = 'data, created_at, last_seen_at, expires_at, renewed_at, subject, user_agent, moved_to'

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
  const checkpointer =
    path !== ':memory:' && checkpointIntervalMs > 0 ? startCheckpointer(db, path, checkpointIntervalMs, warn) : undefined
  const batch = createWriteBatcher(db)
  const { write, read: inReadBatch } = batch
  let closed = false

  const reportDamaged = damagedRecordReporter(warn)
  const selectAny = db.prepare<Row, [string, number]>(`SELECT ${COLUMNS} FROM sessions WHERE key = ?1 AND expires_at > ?2`)
  const insert = db.prepare(
    `INSERT INTO sessions (key, ${COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)`
  )
  // Writes name live records only: a rename's leftover pointer (moved_to) is never written through.
  const LIVE = 'key = ?1 AND expires_at > ?2 AND moved_to IS NULL'
  // Each write comes in two forms, [moving the deadline, keeping it]: keeping it leaves the
  // expiry index alone, which halves the pages a write dirties.
  const deadline = (keep: boolean, now: string, expiresAt: string) =>
    keep ? '' : `, last_seen_at = ${now}, expires_at = ${expiresAt}`
  const writeData = [false, true].map((keep) =>
    db.prepare(`UPDATE sessions SET data = ?2, subject = ?5${deadline(keep, '?3', '?4')} WHERE key = ?1`)
  )
  // One statement for the common increment; the WHERE admits only rows where it is certainly
  // valid (a number or absent, far from the size limit). Anything else takes the checked path.
  const incrementInPlace = [false, true].map((keep) =>
    db.prepare<{ value: number }, [string, number, string, number, number | null, number]>(
      `UPDATE sessions
       SET data = json_set(data, ?3, coalesce(json_extract(data, ?3), 0) + ?4)${deadline(keep, '?2', '?5')}
       WHERE ${LIVE}
         AND CASE WHEN json_valid(data) THEN coalesce(json_type(data, ?3), 'integer') IN ('integer', 'real') END
         AND octet_length(data) + length(?3) + 40 <= ?6
       RETURNING json_extract(data, ?3) AS value`
    )
  )
  const form = (expiresAt: number | undefined) => (expiresAt === undefined ? 1 : 0)
  const touchLive = db.prepare(`UPDATE sessions SET last_seen_at = ?2, expires_at = ?3 WHERE ${LIVE}`)
  const renameLive = db.prepare<Row, [string, number, string]>(
    `UPDATE sessions SET key = ?3, renewed_at = ?2 WHERE ${LIVE} RETURNING ${COLUMNS}`
  )
  const insertPointer = db.prepare(
    `INSERT OR REPLACE INTO sessions (key, ${COLUMNS}) VALUES (?1, '{}', ?2, ?3, ?4, ?3, NULL, NULL, ?5)`
  )
  const remove = db.prepare('DELETE FROM sessions WHERE key = ?1')
  const removeSubject = db.prepare('DELETE FROM sessions WHERE subject = ?1')
  const removeAll = db.prepare('DELETE FROM sessions')
  const selectSubject = db.prepare<Row & { key: string }, [string, number]>(
    `SELECT key, ${COLUMNS} FROM sessions WHERE subject = ?1 AND expires_at > ?2 AND moved_to IS NULL ORDER BY last_seen_at DESC`
  )
  const pruneExpired = db.prepare(
    'DELETE FROM sessions WHERE key IN (SELECT key FROM sessions WHERE expires_at <= ?1 LIMIT ?2)'
  )
  const userVersion = db.prepare('PRAGMA user_version')
  const countByExpiry = db.prepare<{ live: number; expired: number }, [number]>(
    'SELECT count(*) FILTER (WHERE expires_at > ?1 AND moved_to IS NULL) AS live, count(*) FILTER (WHERE expires_at <= ?1) AS expired FROM sessions'
  )

  /** The live record at `key` (following a rename pointer) with its decoded data, or undefined. */
  const read = (key: string, at: number): [Row, SessionData, string | undefined] | undefined => {
    let row = selectAny.get(key, at)
    const movedTo = row?.moved_to ?? undefined
    if (movedTo !== undefined) row = selectAny.get(movedTo, at)
    if (!row || row.moved_to !== null) return undefined
    const data = decodeData(row.data)
    if (!data) return void reportDamaged(movedTo ?? key)
    return [row, data, movedTo]
  }
  const toRecord = (row: Row, data: SessionData, movedTo?: string): SessionRecord => ({
    data,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    expiresAt: row.expires_at,
    renewedAt: row.renewed_at,
    ...(row.subject !== null && { subject: row.subject }),
    ...(row.user_agent !== null && { userAgent: row.user_agent }),
    ...(movedTo !== undefined && { movedTo }),
  })
  /** `read` for writers: only the record itself, never through a pointer. */
  const readLive = (key: string, at: number) => {
    const found = read(key, at)
    return found && found[2] === undefined ? found : undefined
  }

  const store: SessionStore = {
    get(key, at) {
      return inReadBatch(() => {
        const found = read(key, at)
        return found && toRecord(...found)
      })
    },
    async create(key, record, maxBytes) {
      const json = encodeData(record.data, maxBytes)
      const { createdAt, lastSeenAt, expiresAt, renewedAt, subject = null, userAgent = null } = record
      return write(() => {
        insert.run(key, json, createdAt, lastSeenAt, expiresAt, renewedAt, subject, userAgent)
      })
    },
    update(key, changes, { now: at, expiresAt, maxBytes }) {
      return write(() => {
        const found = readLive(key, at)
        if (!found) return undefined
        const merged = applyChanges(found[1], changes)
        const subject = changes.subject === undefined ? found[0].subject : changes.subject
        writeData[form(expiresAt)]!.run(key, encodeData(merged, maxBytes), at, expiresAt ?? null, subject)
        return merged
      })
    },
    increment(key, field, by, { now: at, expiresAt, maxBytes }) {
      const path = field.includes('"') ? undefined : `$."${field}"`
      return write(() => {
        const row = path && incrementInPlace[form(expiresAt)]!.get(key, at, path, by, expiresAt ?? null, maxBytes)
        if (row) return row.value
        const found = readLive(key, at)
        if (!found) return undefined
        const value = addToField(found[1], field, by)
        writeData[form(expiresAt)]!.run(key, encodeData(found[1], maxBytes), at, expiresAt ?? null, found[0].subject)
        return value
      })
    },
    touch(key, at, expiresAt) {
      return write(() => touchLive.run(key, at, expiresAt).changes > 0)
    },
    rename(fromKey, toKey, at, graceUntil = at) {
      return write(() => {
        const moved = renameLive.get(fromKey, at, toKey)
        if (!moved) return false
        if (graceUntil > at) insertPointer.run(fromKey, moved.created_at, at, Math.min(graceUntil, moved.expires_at), toKey)
        return true
      })
    },
    destroy(key) {
      return write(() => {
        remove.run(key)
      })
    },
    listSubject(subject, at) {
      return inReadBatch(() => selectSubject.all(subject, at).map(
        (row): SessionSummary => ({
          key: row.key,
          createdAt: row.created_at,
          lastSeenAt: row.last_seen_at,
          expiresAt: row.expires_at,
          ...(row.user_agent !== null && { userAgent: row.user_agent }),
        })
      ))
    },
    destroySubject(subject) {
      return write(() => removeSubject.run(subject).changes)
    },
    destroyAll() {
      return write(() => removeAll.run().changes)
    },
    prune(at, limit) {
      return write(() => pruneExpired.run(at, limit).changes)
    },
    async stats(at) {
      if (closed) throw new Error('session store is closed')
      const { live, expired } = countByExpiry.get(at)!
      const bytes = path === ':memory:' ? 0 : Bun.file(path).size + Bun.file(`${path}-wal`).size
      return { live, expired, bytes }
    },
    async ping() {
      if (closed) throw new Error('session store is closed')
      userVersion.get()
    },
    async close() {
      if (closed) return
      stopPruner()
      batch.close()
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
