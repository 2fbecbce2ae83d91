/**
 * @module sqlite-cache
 * The rows this process read or wrote recently, so that a returning visitor's read costs no SQL
 * and a write re-reads nothing. SQLite's `PRAGMA data_version` tells whether another connection
 * (a second process on the same file, the admin CLI) committed since we last asked: if one did,
 * the whole cache is dropped. Our own commits keep it current, because the store updates an
 * entry in the same grouped transaction that writes its row, and the batcher drops everything
 * when a transaction rolls back.
 *
 * A row read from the table joins the cache only when its key was read from the table before, not
 * long ago: a store much larger than the cache (a million sessions, random visitors) would otherwise
 * turn the whole cache over every few thousand requests, for a hit rate of about 2 % and a heap tens
 * of megabytes larger. Until then the row waits in a small probation set, which the writes of the
 * same request find; the keys seen are remembered as fingerprints in a typed array, allocating
 * nothing per read. While under 1 in 8 reads from the table are such rereads, none joins.
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
  /** A row just read from the table: cached if its key was read from the table recently, else on probation. */
  offer(key: string, row: Row): void
  /** Caches `row` at once (a session the store just moved to `key`). */
  set(key: string, row: Row): void
  delete(key: string): void
  clear(): void
}

/** Rows on probation at most, per generation: several turns' worth of 64 parallel requests. */
const PROBATION_ROWS = 512
/** Reads from the table between two decisions whether rows read again may join the cache. */
const ADMISSION_WINDOW = 4096
/** Rows join while at least 1 in this many reads from the table was of a key read not long before. */
const MIN_REREADS_PER = 8

/**
 * @param capacity most rows kept, about: two generations of half of it each. When the young one
 *   is full, the old one is dropped whole and the young one takes its place (a row read from the
 *   old one moves to the young one). Dropping a Map whole is O(1), where deleting a Map's oldest
 *   entry one by one costs tens of microseconds each in JavaScriptCore. Up to 1,024 rows read only
 *   once wait on probation besides. 0 caches nothing.
 */
export function createRowCache<Row>(db: Database, capacity: number): RowCache<Row> {
  const generation = Math.max(1, Math.ceil(capacity / 2))
  let young = new Map<string, Row>()
  let old = new Map<string, Row>()
  // Rows read once, for the rest of their request (its writes come a turn later): two generations.
  const probationSize = Math.min(generation, PROBATION_ROWS)
  let probation = new Map<string, Row>()
  let probationOld = new Map<string, Row>()
  // Fingerprints (CRC-32) of keys read from the table, by their low bits; a newer key overwrites an
  // older one in its slot, so about the last `2 * capacity` keys are remembered.
  let slots = 1
  while (slots < capacity * 2) slots *= 2
  const seen = new Uint32Array(capacity > 0 ? slots : 1)
  const dataVersion = db.prepare<{ data_version: number }, []>('PRAGMA data_version')
  let version = dataVersion.get()!.data_version
  let admitting = true
  let windowReads = 0
  let windowRereads = 0
  let checkedThisTurn = false
  const endTurn = () => {
    checkedThisTurn = false
  }
  // The fingerprints stay: they hold no data, only which keys were read lately.
  const clear = () => {
    young = new Map()
    old = new Map()
    probation = new Map()
    probationOld = new Map()
  }
  const set = (key: string, row: Row) => {
    if (young.size >= generation && !young.has(key)) {
      old = young
      young = new Map()
    }
    young.set(key, row)
  }
  const keep = (key: string, row: Row) => {
    if (capacity === 0) return
    old.delete(key)
    probation.delete(key)
    probationOld.delete(key)
    set(key, row)
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
      if (row !== undefined) return row
      const promoted = old.size === 0 ? undefined : old.get(key)
      if (promoted !== undefined) {
        old.delete(key)
        set(key, promoted)
        return promoted
      }
      return probation.get(key) ?? probationOld.get(key)
    },
    offer(key, row) {
      if (capacity === 0) return
      const fingerprint = Bun.hash.crc32(key)
      const slot = fingerprint & (slots - 1)
      const reread = seen[slot] === fingerprint
      if (reread) windowRereads++
      if (++windowReads === ADMISSION_WINDOW) {
        admitting = windowRereads * MIN_REREADS_PER >= ADMISSION_WINDOW
        windowReads = windowRereads = 0
      }
      if (reread && admitting) return keep(key, row)
      seen[slot] = fingerprint
      if (probation.size >= probationSize) {
        probationOld = probation
        probation = new Map()
      }
      probation.set(key, row)
    },
    set: keep,
    delete(key) {
      young.delete(key)
      old.delete(key)
      probation.delete(key)
      probationOld.delete(key)
    },
    clear,
  }
}
