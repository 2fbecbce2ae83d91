/**
 * @module sqlite-row-writes
 * The data writes of one grouped transaction, held until it commits: a row changed by several
 * writes of the batch (parallel increments of one session) is logged once, with its last state
 * (`sqlite-write-log.ts`). Every caller is still answered only after the commit, so nothing is
 * reported as saved earlier than before; anything else that reads or writes the table in the
 * batch logs the held rows first (`flush`), so it never sees a row older than the cache.
 *
 * A held row is named by its rowid (read in this transaction, from the cache or the table) and
 * its key: the cache is dropped whenever another connection commits, so the row is there.
 */
import type { LoggedRow, WriteLog } from './sqlite-write-log'

/** The columns a data write sets, as the row cache holds them, named by the rowid. */
export type WrittenRow = LoggedRow & {
  /** The batch this row is held in: no Map or entry object per write. */
  heldIn?: number
}

export type RowWrites = {
  /** Holds `row` (already changed in place) for the commit. */
  hold(row: WrittenRow, key: string): void
  /** Logs every held row now. */
  flush(): void
  /** Forgets the held rows (a new batch, or one rolled back). */
  clear(): void
}

export function createRowWrites(log: WriteLog): RowWrites {
  // Reused from batch to batch: a Map of entry objects per batch made the process about 8 MB larger.
  const rows: WrittenRow[] = []
  const keys: string[] = []
  let batch = 1
  const clear = () => {
    rows.length = 0
    keys.length = 0
    batch++
  }
  return {
    hold(row, key) {
      if (row.heldIn === batch) return
      row.heldIn = batch
      rows.push(row)
      keys.push(key)
    },
    flush() {
      for (let i = 0; i < rows.length; i++) log.append(rows[i]!, keys[i]!)
      if (rows.length > 0) clear()
    },
    clear,
  }
}
