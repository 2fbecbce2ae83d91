/**
 * @module sqlite
 * The default store: one bun:sqlite file, WAL, a busy timeout, a versioned schema with an
 * indexed expiry column, prepared statements, grouped commits (`sqlite-batch.ts`) and WAL
 * checkpoints on a worker thread (`sqlite-checkpointer.ts`).
 */
import { Database } from 'bun:sqlite'
import { mkdirSync, statfsSync } from 'node:fs'
import { dirname } from 'node:path'
import type { SessionData, SessionRecord, SessionSummary } from '../store'
import type { FullSessionStore } from '../capabilities'
import { addToField, applyChanges, damagedRecordReporter, decodeData, encodeData, startPruner, takeFields } from './records'
import { createWriteBatcher } from './sqlite-batch'
import { createRowWrites, type WrittenRow } from './sqlite-row-writes'
import { createRowCache } from './sqlite-cache'
import { startCheckpointer } from './sqlite-checkpointer'
import { createWriteHealth } from './sqlite-health'
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
  /**
   * How long the write-ahead log grows (bytes on disk) before the writer restarts it from its
   * beginning: larger means fewer pauses of the event loop (each restart waits for an fsync, a few
   * milliseconds), more disk. At 50,000 writes a second the default restarts it about every
   * 0.6 s. With `checkpointIntervalMs: 0` SQLite's own limit (1000 pages) applies. @default 33554432 (32 MiB)
   */
  walRestartBytes?: number
  /**
   * Rows kept in process memory, so that returning visitors' reads cost no SQL; checked against
   * other processes' commits with `PRAGMA data_version`. 0 turns it off. A row is about 300 bytes
   * of live heap, and about 1.4 KB of the process's peak RSS under load (the heap grows with what
   * it keeps): 10,000 cached rows are about 14 MB.
   * The cache keeps between half of this and all of it (two generations), so 20,000 holds 10,000
   * returning visitors whole. A row joins it on its second read from the table, not long after the
   * first, so that visitors of a much larger store who come back rarely do not churn it (nor while
   * under 1 in 8 reads from the table are such second reads). @default 20000
   */
  cacheSize?: number
  /** Milliseconds between sweeps of expired records; 0 turns the sweep off. @default 60000 */
  pruneIntervalMs?: number
  /** Records deleted per statement while sweeping. @default 500 */
  pruneBatchSize?: number
  now?: () => number
  warn?: (message: string) => void
  /** Told how many expired records each sweep deleted. */
  onPruned?: (count: number) => void
}

/** A row as read (and cached): the columns a data write sets (`WrittenRow`) and the rest. */
type Row = WrittenRow & {
  created_at: number
  renewed_at: number
  user_agent: string | null
  moved_to: string | null
}
/** Below this much free space where the database lives, the store refuses to open: it could not keep a session. */
const MIN_FREE_BYTES = 64 * 1024

function refuseFullDisk(path: string) {
  let free: number
  try {
    const { bavail, bsize } = statfsSync(dirname(path))
    free = bavail * bsize
  } catch {
    return // a file system that cannot say: the probe write that just committed is the evidence
  }
  if (free < MIN_FREE_BYTES) {
    throw Object.assign(new Error(`database or disk is full: ${free} bytes free beside the database, ${MIN_FREE_BYTES} needed`), { code: 'SQLITE_FULL' })
  }
}

/** Bytes per database page of a new file. */
const PAGE_SIZE = 1024
const COLUMNS = 'data, created_at, last_seen_at, expires_at, renewed_at, subject, user_agent, moved_to, remembered'
const SELECTED = `id, ${COLUMNS}`

/**
 * @example
 * const store = sqliteStore({ path: './data/sessions.db' })
 * new Elysia().use(session({ store, secrets: [process.env.SESSION_SECRET!] }))
 */
export function sqliteStore(options: SqliteStoreOptions): FullSessionStore {
  const { path, busyTimeoutMs = 5000, synchronous = 'NORMAL', pruneIntervalMs = 60_000 } = options
  const { pruneBatchSize = 500, now = Date.now, warn = console.warn, checkpointIntervalMs = 200, cacheSize = 20_000 } = options
  const { walRestartBytes = 32 * 1024 * 1024 } = options
  if (!(walRestartBytes > 0 && walRestartBytes < Number.MAX_SAFE_INTEGER)) {
    throw new TypeError(`sqliteStore: \`walRestartBytes\` must be a positive number of bytes, not ${String(walRestartBytes)}`)
  }
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path, { create: true, strict: true })
  db.run(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`)
  // For a new file only (an existing one keeps its size). A returning visit dirties one table page,
  // which its commit writes to the WAL and a checkpoint copies back: with 1 KiB pages instead of
  // 4 KiB, the app served 22,766 and 23,904 returning visitors a second against 17,979 and 21,663,
  // with p99 12.5 ms against 19-22 ms (the checkpoint copies a quarter of the bytes, on the core
  // the requests need), and new visitors about the same.
  db.run(`PRAGMA page_size = ${PAGE_SIZE}`)
  db.run('PRAGMA journal_mode = WAL')
  db.run(`PRAGMA synchronous = ${synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`)
  migrate(db)
  const health = createWriteHealth(db, { busyTimeoutMs: Math.max(0, Math.floor(busyTimeoutMs)) })
  try {
    health.probe() // a file that opens but cannot be written (read-only, full disk) fails here, not on each request
    // A full disk can still take the probe's one page, in the slack of the WAL file's last block.
    if (path !== ':memory:') refuseFullDisk(path)
  } catch (error) {
    db.close(false)
    const { code, message } = error as { code?: string; message: string }
    throw Object.assign(new Error(`not writable: ${message}${code ? ` (${code})` : ''}`), { code, cause: error })
  }
  const checkpointer =
    path !== ':memory:' && checkpointIntervalMs > 0 ? startCheckpointer(db, path, { intervalMs: checkpointIntervalMs, restartBytes: walRestartBytes }, warn) : undefined
  const cache = createRowCache<Row>(db, cacheSize)
  // Data writes wait for the end of their batch (sqlite-row-writes.ts); everything else that
  // touches the table writes them first (`flushed`).
  const rowWrites = createRowWrites(db)
  const batch = createWriteBatcher(db, {
    begin: () => {
      rowWrites.clear()
      cache.checkInTransaction()
    },
    beforeCommit: rowWrites.flush,
    rolledBack: () => {
      rowWrites.clear()
      cache.clear()
    },
    written: health.written,
  })
  const { write, read: inReadBatch } = batch
  let closed = false

  const reportDamaged = damagedRecordReporter(warn)
  const selectRow = db.prepare<Row, [string]>(`SELECT ${SELECTED} FROM sessions WHERE key = ?1`)
  const insert = db.prepare(
    `INSERT INTO sessions (key, ${COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9)`
  )
  /** A write batch step that reads or writes the table beyond the cache: held rows go first. */
  const flushed = <T>(run: () => T) => write(() => {
    rowWrites.flush()
    return run()
  })
  // Writes name live records only: a rename's leftover pointer (moved_to) is never written through.
  const renameLive = db.prepare<Row, [string, number, string, string | null]>(
    `UPDATE sessions SET key = ?3, renewed_at = ?2, user_agent = coalesce(?4, user_agent) WHERE key = ?1 AND expires_at > ?2 AND moved_to IS NULL RETURNING ${SELECTED}`
  )
  const insertPointer = db.prepare(
    `INSERT OR REPLACE INTO sessions (key, ${COLUMNS}) VALUES (?1, '{}', ?2, ?3, ?4, ?3, NULL, NULL, ?5, 0)`
  )
  const remove = db.prepare('DELETE FROM sessions WHERE key = ?1')
  // A record's grace pointers go with it, in the same transaction (index sessions_by_target).
  const removePointers = db.prepare('DELETE FROM sessions WHERE moved_to = ?1')
  const removeSubject = db.prepare('DELETE FROM sessions WHERE subject = ?1')
  const removeSubjectPointers = db.prepare(
    'DELETE FROM sessions WHERE moved_to IN (SELECT key FROM sessions WHERE subject = ?1)'
  )
  const removeAll = db.prepare('DELETE FROM sessions')
  const selectSubject = db.prepare<Omit<Row, 'id'> & { key: string }, [string, number]>(
    `SELECT key, ${COLUMNS} FROM sessions WHERE subject = ?1 AND expires_at > ?2 AND moved_to IS NULL ORDER BY last_seen_at DESC`
  )
  const pruneExpired = db.prepare(
    'DELETE FROM sessions WHERE key IN (SELECT key FROM sessions WHERE expires_at <= ?1 LIMIT ?2)'
  )
  const userVersion = db.prepare('PRAGMA user_version')
  const COUNT_BY_EXPIRY =
    `SELECT count(*) FILTER (WHERE expires_at > ?1 AND moved_to IS NULL) AS live, count(*) FILTER (WHERE expires_at <= ?1) AS expired,
       count(*) FILTER (WHERE expires_at > ?1 AND moved_to IS NULL AND remembered = 1) AS remembered FROM sessions`
  type Counts = { live: number; expired: number; remembered: number }
  // A full scan: on the checkpoint worker's connection when there is one, off the event loop.
  const countByExpiry = (at: number): Promise<Counts> =>
    checkpointer ? checkpointer.queryRow<Counts>(COUNT_BY_EXPIRY, [at]) : Promise.resolve(db.query<Counts, [number]>(COUNT_BY_EXPIRY).get(at)!)

  /** The row at `key`, from the cache or the table (then cached, unless it is a pointer). */
  const rowAt = (key: string): Row | undefined => {
    let row = cache.get(key)
    if (row === undefined) {
      rowWrites.flush() // no-op outside a write batch, where nothing is held
      row = selectRow.get(key) ?? undefined
      if (row && row.moved_to === null) cache.offer(key, row)
    }
    return row
  }
  /** The live record at `key` (following a rename pointer) with its decoded data, or undefined. */
  const read = (key: string, at: number): [Row, SessionData, string | undefined] | undefined => {
    let row = rowAt(key)
    if (!row || row.expires_at <= at) return undefined
    const movedTo = row.moved_to ?? undefined
    if (movedTo !== undefined) row = rowAt(movedTo)
    if (!row || row.expires_at <= at || row.moved_to !== null) return undefined
    const data = decodeData(row.data)
    if (!data) return void reportDamaged(movedTo ?? key)
    return [row, data, movedTo]
  }
  // Field by field: conditional object spreads cost more than the rest of a cached read.
  const toRecord = ([row, data, movedTo]: [Row, SessionData, string | undefined]): SessionRecord => {
    const record: SessionRecord = { data, createdAt: row.created_at, lastSeenAt: row.last_seen_at, expiresAt: row.expires_at, renewedAt: row.renewed_at }
    if (row.subject !== null) record.subject = row.subject
    if (row.user_agent !== null) record.userAgent = row.user_agent
    if (row.remembered === 1) record.remembered = true
    if (movedTo !== undefined) record.movedTo = movedTo
    return record
  }
  /** `read` for writers: only the record itself, never through a pointer. */
  const readLive = (key: string, at: number) => {
    const found = read(key, at)
    return found && found[2] === undefined ? found : undefined
  }
  /** Sets `data` (and the deadline, when given) on a row read in this transaction, written at its commit. */
  const writeRow = (
    key: string,
    row: Row,
    data: SessionData,
    subject: string | null,
    remembered: number,
    at: number,
    expiresAt: number | undefined,
    maxBytes: number
  ) => {
    row.data = encodeData(data, maxBytes) // first: a write too large changes nothing
    rowWrites.hold(row, key, expiresAt !== undefined)
    row.subject = subject
    row.remembered = remembered
    if (expiresAt !== undefined) {
      row.last_seen_at = at
      row.expires_at = expiresAt
    }
  }

  const store: FullSessionStore = {
    get(key, at) {
      // A cached row answers at once; anything else (a miss, a pointer) reads in the batch.
      if (!closed) {
        try {
          cache.checkForRead()
          if (cache.get(key) !== undefined) {
            const found = read(key, at)
            return Promise.resolve(found && toRecord(found))
          }
        } catch (error) {
          return Promise.reject(error)
        }
      }
      return inReadBatch(() => {
        const found = read(key, at)
        return found && toRecord(found)
      })
    },
    async create(key, record, maxBytes) {
      const json = encodeData(record.data, maxBytes)
      const { createdAt, lastSeenAt, expiresAt, renewedAt, subject = null, userAgent = null, remembered = false } = record
      return flushed(() => {
        // Not cached yet: a row earns its place by being read back (most cookieless traffic never
        // returns), so a flood of new visitors cannot push returning ones out.
        insert.run(key, json, createdAt, lastSeenAt, expiresAt, renewedAt, subject, userAgent, remembered ? 1 : 0)
      })
    },
    update(key, changes, { now: at, expiresAt, maxBytes }) {
      return write(() => {
        const found = readLive(key, at)
        if (!found) return undefined
        const [row, data] = found
        const merged = applyChanges(data, changes)
        const subject = changes.subject === undefined ? row.subject : changes.subject
        const remembered = changes.remembered === undefined ? row.remembered : changes.remembered ? 1 : 0
        writeRow(key, row, merged, subject, remembered, at, expiresAt, maxBytes)
        return merged
      })
    },
    increment(key, field, by, { now: at, expiresAt, maxBytes }) {
      return write(() => {
        const found = readLive(key, at)
        if (!found) return undefined
        const [row, data] = found
        const value = addToField(data, field, by)
        writeRow(key, row, data, row.subject, row.remembered, at, expiresAt, maxBytes)
        return value
      })
    },
    take(key, fields, { now: at, expiresAt, maxBytes }) {
      return write(() => {
        const found = readLive(key, at)
        if (!found) return undefined
        const [row, data] = found
        const taken = takeFields(data, fields)
        if (Object.keys(taken).length > 0 || expiresAt !== undefined) writeRow(key, row, data, row.subject, row.remembered, at, expiresAt, maxBytes)
        return taken
      })
    },
    touch(key, at, expiresAt) {
      return write(() => {
        const found = readLive(key, at)
        if (!found) return false
        // A held write that moves the deadline (its data as it stands): touch is one.
        found[0].last_seen_at = at
        found[0].expires_at = expiresAt
        rowWrites.hold(found[0], key, true)
        return true
      })
    },
    rename(fromKey, toKey, at, graceUntil = at, userAgent) {
      return flushed(() => {
        const moved = renameLive.get(fromKey, at, toKey, userAgent ?? null)
        cache.delete(fromKey)
        if (!moved) return false
        cache.set(toKey, moved)
        removePointers.run(fromKey) // an older old key: only the newest one stays readable
        if (graceUntil > at) insertPointer.run(fromKey, moved.created_at, at, Math.min(graceUntil, moved.expires_at), toKey)
        return true
      })
    },
    destroy(key) {
      return flushed(() => {
        removePointers.run(key)
        remove.run(key)
        cache.delete(key)
      })
    },
    listSubject(subject, at) {
      return inReadBatch(() => selectSubject.all(subject, at).map(
        (row): SessionSummary => ({
          key: row.key,
          createdAt: row.created_at,
          lastSeenAt: row.last_seen_at,
          expiresAt: row.expires_at,
          remembered: row.remembered === 1,
          ...(row.user_agent !== null && { userAgent: row.user_agent }),
        })
      ))
    },
    destroySubject(subject) {
      return flushed(() => {
        cache.clear()
        removeSubjectPointers.run(subject)
        return removeSubject.run(subject).changes
      })
    },
    destroyAll() {
      return flushed(() => {
        cache.clear()
        return removeAll.run().changes
      })
    },
    prune(at, limit) {
      return flushed(() => {
        const deleted = pruneExpired.run(at, limit).changes
        if (deleted > 0) cache.clear()
        return deleted
      })
    },
    async stats(at) {
      if (closed) throw new Error('session store is closed')
      const { live, expired, remembered } = await countByExpiry(at)
      const bytes = path === ':memory:' ? 0 : Bun.file(path).size + Bun.file(`${path}-wal`).size
      return { live, expired, bytes, remembered }
    },
    async ping() {
      if (closed) throw new Error('session store is closed')
      userVersion.get()
      health.check() // readiness means writes work: a full disk or a held lock is not ready
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
