/**
 * @module sqlite-write-log
 * Data writes are appended to `session_writes` instead of updating their row of `sessions` in
 * place, and folded into the table later, oldest first. An append lands on the last pages of a
 * table that only grows at its end, where an update dirties a random page of a table as large as
 * the store (measured in bun:sqlite, 10,000 sessions, 64 writes a transaction: 5-7 µs against
 * 11-15 µs a write). By the time an entry is folded, most rows have been written again: only an
 * entry that is still its row's newest is copied into the table (about 4 % of them with 10,000
 * sessions and the default 32,768 entries), the rest are deleted with the log's head.
 *
 * Every process on the file keeps the log's newest entry per row in memory (`newest`): its own
 * appends, and the other processes' read back (`catchUp`) whenever `PRAGMA data_version` says
 * another connection committed, which the row cache checks inside every grouped transaction. A
 * row read from the table takes its newest entry's columns when the entry names the row's
 * current key; a renamed row is settled into the table first, and a deleted row's entries are
 * dropped when folded (their key no longer matches). Writes are serialised by SQLite's write
 * lock and each writer catches up inside its IMMEDIATE transaction, so counts stay exact across
 * processes. Outside the store, the view `sessions_current` shows the table with the log applied;
 * closing the store folds the whole log.
 */
import type { Database } from 'bun:sqlite'

/** The columns a data write sets. */
export type LoggedColumns = {
  data: string
  last_seen_at: number
  expires_at: number
  subject: string | null
  remembered: number
}

/**
 * A row as logged: its columns, and its newest entry's place and key. The store's cached rows are
 * logged as they are (no object per write): their columns change only in a write transaction,
 * and are logged before anything in it reads them from here.
 */
export type LoggedRow = LoggedColumns & {
  id: number
  loggedSeq?: number
  loggedKey?: string
  /**
   * False when no write since the table's copy moved the deadline: folding it then leaves the expiry
   * index alone, which halves the pages a fold dirties. Unknown (another process's entry): true.
   */
  deadlineMoved?: boolean
}
type Entry = LoggedRow & { loggedSeq: number; loggedKey: string }

export type WriteLog = {
  /** Appends `row`'s columns as its newest state (under `key`); inside a write transaction. */
  append(row: LoggedRow, key: string): void
  /** Gives `row` (just read from the table) its newest logged columns, if any name its key. */
  overlay<Row extends LoggedRow>(row: Row, key: string): Row
  /** Copies the newest logged state of row `id` into the table now; inside a write transaction. */
  settle(id: number): void
  /** `settle` for every row whose newest logged write satisfies `matches`. */
  settleWhere(matches: (columns: LoggedColumns) => boolean): void
  /** Folds the oldest entries until at most `maxEntries` remain; inside a write transaction. */
  fold(): void
  /** Reads the entries other connections appended, and forgets the ones they folded. */
  catchUp(): void
  /** Marks memory as behind the file (a rolled-back transaction appended or folded): `refresh` reads the log again. */
  invalidate(): void
  /** Reads the whole log again if `invalidate` was called since; at the start of every grouped transaction. */
  refresh(): void
  /** Folds the whole log into the table, in a transaction of its own. */
  foldAll(): void
  /** Forgets every entry (the log was emptied with the table). */
  forget(): void
}

export function createWriteLog(db: Database, maxEntries: number): WriteLog {
  const insert = db.prepare(
    'INSERT INTO session_writes (row_id, key, data, last_seen_at, expires_at, subject, remembered) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)'
  )
  const applyEntry = db.prepare(
    'UPDATE sessions SET data = ?2, last_seen_at = ?3, expires_at = ?4, subject = ?5, remembered = ?6 WHERE id = ?1 AND key = ?7'
  )
  const applyData = db.prepare('UPDATE sessions SET data = ?2, subject = ?3, remembered = ?4 WHERE id = ?1 AND key = ?5')
  const deleteThrough = db.prepare('DELETE FROM session_writes WHERE seq <= ?1')
  const entriesAfter = db.prepare<Entry, [number]>(
    'SELECT row_id AS id, seq AS loggedSeq, key AS loggedKey, data, last_seen_at, expires_at, subject, remembered FROM session_writes WHERE seq > ?1 ORDER BY seq'
  )
  const oldest = db.prepare<{ seq: number | null }, []>('SELECT min(seq) AS seq FROM session_writes')
  const foldEverything = db.transaction(() => {
    db.run(`UPDATE sessions SET data = w.data, last_seen_at = w.last_seen_at, expires_at = w.expires_at, subject = w.subject, remembered = w.remembered
      FROM (SELECT row_id, key, data, last_seen_at, expires_at, subject, remembered, max(seq) FROM session_writes GROUP BY row_id) AS w
      WHERE sessions.id = w.row_id AND sessions.key = w.key`)
    db.run('DELETE FROM session_writes')
  })

  // Row id -> its newest entry; and every entry's (seq, row id) in log order: `length` pairs from
  // `start` in a ring that grows when full (no array per fold, which the heap kept as garbage).
  const newest = new Map<number, Entry>()
  let capacity = 1024
  while (capacity < maxEntries + 1024) capacity *= 2
  let order = new Float64Array(capacity * 2)
  let start = 0
  let length = 0
  let lastSeq = 0
  let stale = true // nothing read yet
  const at = (i: number) => ((start + i) & (capacity - 1)) * 2

  const note = (entry: Entry) => {
    newest.set(entry.id, entry)
    if (length === capacity) {
      const larger = new Float64Array(capacity * 4)
      for (let i = 0; i < length; i++) larger.set(order.subarray(at(i), at(i) + 2), i * 2)
      order = larger
      capacity *= 2
      start = 0
    }
    order[at(length)] = entry.loggedSeq
    order[at(length) + 1] = entry.id
    length++
    lastSeq = entry.loggedSeq
  }
  const write = (entry: Entry) => {
    if (entry.deadlineMoved === false) applyData.run(entry.id, entry.data, entry.subject, entry.remembered, entry.loggedKey)
    else applyEntry.run(entry.id, entry.data, entry.last_seen_at, entry.expires_at, entry.subject, entry.remembered, entry.loggedKey)
    entry.deadlineMoved = false
  }
  /** Drops the entries before `seq` from memory (folded, by us or another process). */
  const dropBefore = (seq: number) => {
    while (length > 0 && order[at(0)]! < seq) {
      const id = order[at(0) + 1]!
      if (newest.get(id)?.loggedSeq === order[at(0)]) newest.delete(id)
      start = (start + 1) & (capacity - 1)
      length--
    }
  }
  const forget = () => {
    newest.clear()
    length = 0
  }
  const catchUp = () => {
    if (stale) {
      forget()
      lastSeq = 0
      stale = false
    }
    for (const entry of entriesAfter.all(lastSeq)) note(entry)
    const first = oldest.get()!.seq
    dropBefore(first ?? lastSeq + 1)
  }
  const settle = (id: number) => {
    const entry = newest.get(id)
    if (entry === undefined) return
    write(entry)
    newest.delete(id) // its log entries stay, and are skipped when folded: none is the newest any more
  }

  return {
    append(row, key) {
      const { lastInsertRowid } = insert.run(row.id, key, row.data, row.last_seen_at, row.expires_at, row.subject, row.remembered)
      row.loggedSeq = Number(lastInsertRowid)
      row.loggedKey = key
      note(row as Entry)
    },
    overlay(row, key) {
      row.deadlineMoved = false // as the table has it
      const entry = newest.get(row.id)
      if (entry === undefined || entry.loggedKey !== key || entry === row) return row
      row.deadlineMoved = entry.deadlineMoved !== false
      row.data = entry.data
      row.last_seen_at = entry.last_seen_at
      row.expires_at = entry.expires_at
      row.subject = entry.subject
      row.remembered = entry.remembered
      return row
    },
    settle,
    settleWhere(matches) {
      for (const [id, entry] of newest) if (matches(entry)) settle(id)
    },
    fold() {
      // At most 4,096 a transaction, so that a log left long by a larger setting shrinks without a long pause.
      const count = Math.min(length - maxEntries, 4096)
      if (count <= 0) return
      for (let i = 0; i < count; i++) {
        const entry = newest.get(order[at(i) + 1]!)
        if (entry !== undefined && entry.loggedSeq === order[at(i)]) write(entry)
      }
      const through = order[at(count - 1)]!
      deleteThrough.run(through)
      dropBefore(through + 1)
    },
    catchUp,
    invalidate() {
      stale = true
    },
    refresh() {
      if (stale) catchUp()
    },
    foldAll() {
      foldEverything.immediate()
      forget()
    },
    forget,
  }
}
