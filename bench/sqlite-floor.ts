/**
 * `bun bench/sqlite-floor.ts`: what one committed write per request costs in bun:sqlite alone, with
 * no HTTP, no Elysia and no session logic: the floor under ours. It builds our table (same schema,
 * 10,000 rows of the benchmark's size) in a temporary WAL database with synchronous=NORMAL, then
 * updates random rows in grouped IMMEDIATE transactions of B rows, for B = 1, 16, 64, with the
 * WAL checkpointed by SQLite itself (as without our worker) and not at all (the cost of the
 * statement and the WAL append only). Pinned to one core like the server in `bun run bench`.
 *
 * Settings (environment): FLOOR_ROWS=10000, FLOOR_SECONDS=2 per measurement, FLOOR_PAGE_SIZE=1024
 * (what the store gives a new file; 4096, SQLite's default, makes these updates about 2.3x dearer).
 */
import { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { migrate } from '../packages/elysia-server-session/src/stores/sqlite-schema'

const rows = Number(process.env.FLOOR_ROWS ?? 10_000)
const seconds = Number(process.env.FLOOR_SECONDS ?? 2)
const pageSize = Number(process.env.FLOOR_PAGE_SIZE ?? 1024)
const dir = mkdtempSync(join(tmpdir(), 'sqlite-floor-'))
const userAgent = 'wrk/4.1.0 (a user agent of the length a browser sends, about one hundred characters long) x'

function measure(batch: number, autocheckpoint: number) {
  const path = join(dir, `floor-${batch}-${autocheckpoint}.db`)
  const db = new Database(path, { create: true, strict: true })
  db.run(`PRAGMA page_size = ${pageSize}`)
  db.run('PRAGMA journal_mode = WAL')
  db.run('PRAGMA synchronous = NORMAL')
  migrate(db)
  const keys: string[] = []
  const now = Date.now()
  const insert = db.prepare(
    `INSERT INTO sessions (key, data, created_at, last_seen_at, expires_at, renewed_at, user_agent) VALUES (?1, '{"views":1}', ?2, ?2, ?3, ?2, ?4)`
  )
  db.transaction(() => {
    for (let i = 0; i < rows; i++) {
      const key = Bun.SHA256.hash(`floor-${i}`, 'base64url') as string
      keys.push(key)
      insert.run(key, now, now + 86_400_000, userAgent)
    }
  })()
  db.run('PRAGMA wal_checkpoint(TRUNCATE)')
  db.run(`PRAGMA wal_autocheckpoint = ${autocheckpoint}`)
  // The statement our store runs for an increment inside the deadline's touch interval.
  const update = db.prepare('UPDATE sessions SET data = ?2, subject = ?3 WHERE key = ?1')
  // A new value each time: SQLite leaves a page clean when a row is rewritten byte for byte.
  let views = 1
  const group = db.transaction((picked: string[]) => {
    for (const key of picked) update.run(key, `{"views":${++views}}`, null)
  })
  let done = 0
  const started = performance.now()
  while (performance.now() - started < seconds * 1000) {
    group.immediate(Array.from({ length: batch }, () => keys[Math.floor(Math.random() * rows)]!))
    done += batch
  }
  const micros = ((performance.now() - started) * 1000) / done
  db.close()
  return micros
}

try {
  console.log(`bun ${Bun.version}, SQLite ${new Database(':memory:').query<{ v: string }, []>('SELECT sqlite_version() AS v').get()!.v}, ${rows} rows, ${pageSize}-byte pages`)
  console.log('| rows per transaction | µs per committed update, SQLite checkpointing (1000 pages) | µs per committed update, no checkpoint |')
  console.log('| ---: | ---: | ---: |')
  for (const batch of [1, 16, 64]) {
    console.log(`| ${batch} | ${measure(batch, 1000).toFixed(1)} | ${measure(batch, 0).toFixed(1)} |`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
