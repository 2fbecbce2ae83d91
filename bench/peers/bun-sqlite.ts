// The bun:sqlite database of the Bun-run peers and floor references: WAL and synchronous=NORMAL,
// the durability ours runs with (a committed write survives a crash of the process).
import { Database } from 'bun:sqlite'

export function openWalDatabase(path: string): Database {
  const db = new Database(path, { create: true, strict: true })
  db.run('PRAGMA journal_mode = WAL')
  db.run('PRAGMA synchronous = NORMAL')
  db.run('PRAGMA busy_timeout = 5000')
  return db
}
