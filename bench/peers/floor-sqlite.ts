/**
 * Floor reference, durable: floor-common.ts's request with the cheapest durable commit I could
 * build in bun:sqlite. The current counts stay in memory; each visit appends one `(key, views)`
 * row to an append-only table (no index, no read, no update). Appends made in one event-loop turn
 * go into one transaction, committed in `setImmediate`, and each reply waits for its commit.
 * Durability as ours: WAL, synchronous=NORMAL (a committed visit survives a crash of the
 * process). On start the rows are replayed into the Map (the highest count per key).
 *
 * A failed commit answers 503 to every request of its turn; their counts stay counted in memory
 * (a reference does not roll back). `bun bench/peers/floor-sqlite.ts` (PORT, HOST, SESSION_SECRET,
 * SESSION_DB; without SESSION_DB a temporary file).
 */
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openWalDatabase } from './bun-sqlite'
import { floorApp, serveFloor } from './floor-common'

export type SqliteAppender = {
  counts: Map<string, number>
  append: (key: string, views: number) => Promise<void>
  /** Rows committed and transactions run so far (rows / transactions = the mean group). */
  stats: () => { rows: number; transactions: number }
  close: () => void
}

type Group = { keys: string[]; views: number[]; done: Promise<void>; settle: (error?: unknown) => void }

/** The append-only table in the file at `path`, its rows replayed, and the grouped appender. */
export function sqliteAppender(path: string): SqliteAppender {
  const db = openWalDatabase(path)
  db.run('CREATE TABLE IF NOT EXISTS visits (key TEXT NOT NULL, views INTEGER NOT NULL)')
  const counts = new Map<string, number>()
  for (const row of db.query<{ key: string; views: number }, []>('SELECT key, max(views) AS views FROM visits GROUP BY key').iterate()) {
    counts.set(row.key, row.views)
  }
  const insert = db.prepare('INSERT INTO visits (key, views) VALUES (?1, ?2)')
  const commit = db.transaction((group: Group) => {
    for (let i = 0; i < group.keys.length; i++) insert.run(group.keys[i]!, group.views[i]!)
  })
  let rows = 0
  let transactions = 0
  let open: Group | undefined

  const newGroup = (): Group => {
    let settle!: Group['settle']
    const done = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === undefined ? resolve() : reject(error))
    })
    return { keys: [], views: [], done, settle }
  }
  const flush = () => {
    const group = open!
    open = undefined
    try {
      commit.immediate(group)
      rows += group.keys.length
      transactions++
      group.settle()
    } catch (error) {
      group.settle(error ?? new Error('commit failed'))
    }
  }

  return {
    counts,
    append(key, views) {
      if (!open) {
        open = newGroup()
        setImmediate(flush)
      }
      open.keys.push(key)
      open.views.push(views)
      return open.done
    },
    stats: () => ({ rows, transactions }),
    close: () => db.close(),
  }
}

if (import.meta.main) {
  const store = sqliteAppender(process.env.SESSION_DB ?? join(tmpdir(), `floor-sqlite-${process.pid}.db`))
  serveFloor(floorApp({ counts: store.counts, append: store.append }), () => {
    const { rows, transactions } = store.stats()
    console.log(`floor-sqlite: ${rows} rows in ${transactions} transactions (${(rows / Math.max(1, transactions)).toFixed(1)} per commit)`)
    store.close()
  })
}
