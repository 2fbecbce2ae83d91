/**
 * @module sqlite-cache
 * The rows this process read or wrote recently, so that a returning visitor's read costs no SQL
 * and a write re-reads nothing. SQLite's `PRAGMA data_version` tells whether another connection
 * (a second process on the same file, the admin CLI) committed since we last asked: if one did,
 * the whole cache is dropped. Our own commits keep it current, because the store updates an
 * entry in the same grouped transaction that writes its row, and the batcher drops everything
 * when a transaction rolls back.
 *
 * Reads outside a transaction ask once per turn of the event loop (an autocommit statement costs
 * a few microseconds of WAL locking): every read in that turn sees the database as of that
 * check, as the grouped read transaction did before. Writes ask inside their IMMEDIATE
 * transaction, where the answer holds until they commit.
 */
import type { Database } from 'bun:sqlite'

export type RowCache<Row> = {
  /** Drops the cache if another connection committed; at most one check per event-loop turn. */
  checkForRead(): void
  /** The same check, always, for use inside a transaction. */
  checkInTransaction(): void
  get(key: string): Row | undefined
  set(key: string, row: Row): void
  delete(key: string): void
  clear(): void
}

/**
 * @param capacity most rows kept, about: two generations of half of it each. When the young one
 *   is full, the old one is dropped whole and the young one takes its place (a row read from the
 *   old one moves to the young one). Dropping a Map whole is O(1), where deleting a Map's oldest
 *   entry one by one costs tens of microseconds each in JavaScriptCore. 0 caches nothing.
 */
export function createRowCache<Row>(db: Database, capacity: number): RowCache<Row> {
  const generation = Math.max(1, Math.ceil(capacity / 2))
  let young = new Map<string, Row>()
  let old = new Map<string, Row>()
  const dataVersion = db.prepare<{ data_version: number }, []>('PRAGMA data_version')
  let version = dataVersion.get()!.data_version
  let checkedThisTurn = false
  const endTurn = () => {
    checkedThisTurn = false
  }
  const clear = () => {
    young = new Map()
    old = new Map()
  }
  const set = (key: string, row: Row) => {
    if (young.size >= generation && !young.has(key)) {
      old = young
      young = new Map()
    }
    young.set(key, row)
  }
  const check = () => {
    const current = dataVersion.get()!.data_version
    if (current !== version) {
      version = current
      clear()
    }
  }
  return {
    checkForRead() {
      if (checkedThisTurn || capacity === 0) return
      check()
      checkedThisTurn = true
      setImmediate(endTurn)
    },
    checkInTransaction: () => capacity > 0 && check(),
    get(key) {
      const row = young.get(key)
      if (row !== undefined || old.size === 0) return row
      const promoted = old.get(key)
      if (promoted !== undefined) {
        old.delete(key)
        set(key, promoted)
      }
      return promoted
    },
    set(key, row) {
      if (capacity === 0) return
      old.delete(key)
      set(key, row)
    },
    delete(key) {
      young.delete(key)
      old.delete(key)
    },
    clear,
  }
}
