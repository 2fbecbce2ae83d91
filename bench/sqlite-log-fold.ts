/**
 * `bun bench/sqlite-log-fold.ts`: would a log-structured write path pay? bun:sqlite alone, no HTTP.
 * Our table (the store's schema and 1 KiB pages, WAL, synchronous=NORMAL) with ROWS rows; random
 * rows get a new `data` in IMMEDIATE transactions of 43 writes (the server's mean batch under
 * `bun run bench`, 64 connections), written two ways:
 *
 * - `in place`: one `UPDATE ... WHERE id = ? AND key = ?` per write, as the store does now;
 * - `log, fold every F ms`: one append per write to a table without an index, and every F ms one
 *   transaction that folds the log into the table (the newest entry per key) and empties it.
 *
 * Both run PASSIVE checkpoints every 200 ms on the same thread, so the CPU per write (process time
 * over writes) includes copying the pages back. A fold holds the write lock (and, on the event
 * loop, every request) for its whole duration: the `fold ms` columns are that pause. After each
 * run every row is checked against the count it must hold. One JSON line per run (`LOGFOLD_JSON`).
 *
 * Settings (environment): LOGFOLD_ROWS=10000, LOGFOLD_SECONDS=5 per run, LOGFOLD_FOLD_MS=200,1000,
 * LOGFOLD_RATE=30000 writes a second (about what the server commits under `bun run bench`; the loop
 * sleeps off the rest of each second, which is not CPU; 0 = as fast as it goes).
 * Pin it like the server: `taskset -c 0 bun bench/sqlite-log-fold.ts`.
 */
import { Database } from 'bun:sqlite'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { migrate } from '../packages/elysia-server-session/src/stores/sqlite-schema'

const rows = Number(process.env.LOGFOLD_ROWS ?? 10_000)
const seconds = Number(process.env.LOGFOLD_SECONDS ?? 5)
const foldIntervals = (process.env.LOGFOLD_FOLD_MS ?? '200,1000').split(',').map(Number)
const rate = Number(process.env.LOGFOLD_RATE ?? 30_000)
const BATCH = 43
const CHECKPOINT_MS = 200
const dir = mkdtempSync(join(tmpdir(), 'sqlite-log-fold-'))
const seed = join(dir, 'seed.db')

function open(path: string) {
  const db = new Database(path, { create: true, strict: true })
  db.run('PRAGMA page_size = 1024')
  db.run('PRAGMA journal_mode = WAL')
  db.run('PRAGMA synchronous = NORMAL')
  return db
}

// The table once, copied for each run: every run starts from the same file.
{
  const db = open(seed)
  migrate(db)
  const insert = db.prepare(`INSERT INTO sessions (key, data, created_at, last_seen_at, expires_at, renewed_at, user_agent) VALUES (?1, '{"views":1}', ?2, ?2, ?3, ?2, 'Bun/1.4.5')`)
  const now = Date.now()
  // Keys as the store writes them: the creation time in base36, then a hash.
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run((now + i).toString(36).padStart(9, '0') + Bun.SHA256.hash(`row-${i}`, 'base64url'), now, now + 86_400_000)
  })()
  db.run('PRAGMA wal_checkpoint(TRUNCATE)')
  db.close()
}

type Result = { mode: string; writes: number; cpuUsPerWrite: number; folds: number; foldMsMean: number; foldMsMax: number; wrong: number }

function run(foldMs: number | undefined): Result {
  const path = join(dir, `run-${foldMs ?? 'inplace'}.db`)
  copyFileSync(seed, path)
  const db = open(path)
  db.run('CREATE TABLE session_log (seq INTEGER PRIMARY KEY, key TEXT NOT NULL, data TEXT NOT NULL) STRICT')
  const table = db.query<{ id: number; key: string }, []>('SELECT id, key FROM sessions ORDER BY id').all()
  const counts = new Int32Array(table.length).fill(1)
  const update = db.prepare('UPDATE sessions SET data = ?2 WHERE id = ?1 AND key = ?3')
  const append = db.prepare('INSERT INTO session_log (key, data) VALUES (?1, ?2)')
  const write = db.transaction((picks: number[]) => {
    for (const i of picks) {
      const data = `{"views":${++counts[i]!}}`
      if (foldMs === undefined) update.run(table[i]!.id, data, table[i]!.key)
      else append.run(table[i]!.key, data)
    }
  })
  const fold = db.transaction(() => {
    db.run(`UPDATE sessions SET data = newest.data
      FROM (SELECT key, data FROM session_log WHERE seq IN (SELECT max(seq) FROM session_log GROUP BY key)) AS newest
      WHERE sessions.key = newest.key`)
    db.run('DELETE FROM session_log')
  })
  let writes = 0
  let folds = 0
  let foldTotal = 0
  let foldMax = 0
  const started = performance.now()
  const cpu = process.cpuUsage()
  let lastFold = started
  let lastCheckpoint = started
  const picks: number[] = new Array(BATCH)
  while (performance.now() - started < seconds * 1000) {
    for (let j = 0; j < BATCH; j++) picks[j] = Math.floor(Math.random() * table.length)
    write.immediate(picks)
    writes += BATCH
    // At `rate`, the batch's share of a second is slept off (not CPU).
    if (rate > 0) {
      const due = started + (writes / rate) * 1000 - performance.now()
      if (due > 0) Bun.sleepSync(due)
    }
    if (foldMs !== undefined && performance.now() - lastFold >= foldMs) {
      const at = performance.now()
      fold.immediate()
      lastFold = performance.now()
      foldTotal += lastFold - at
      foldMax = Math.max(foldMax, lastFold - at)
      folds++
    }
    if (performance.now() - lastCheckpoint >= CHECKPOINT_MS) {
      db.run('PRAGMA wal_checkpoint(PASSIVE)')
      lastCheckpoint = performance.now()
    }
  }
  if (foldMs !== undefined) fold.immediate() // the rest, outside the measurement: only for the check
  const used = process.cpuUsage(cpu)
  const read = db.query<{ data: string }, [number]>('SELECT data FROM sessions WHERE id = ?1')
  let wrong = 0
  for (let i = 0; i < table.length; i++) if (read.get(table[i]!.id)!.data !== `{"views":${counts[i]}}`) wrong++
  db.close()
  rmSync(path, { force: true })
  return {
    mode: foldMs === undefined ? 'in place' : `log, fold every ${foldMs} ms`,
    writes,
    cpuUsPerWrite: (used.user + used.system) / writes,
    folds,
    foldMsMean: folds ? foldTotal / folds : 0,
    foldMsMax: foldMax,
    wrong,
  }
}

try {
  const pace = rate > 0 ? `${rate.toLocaleString('en')} writes a second` : 'as fast as it goes'
  console.log(`bun:sqlite, ${rows.toLocaleString('en')} rows, ${BATCH} writes a transaction, ${pace}, ${seconds} s a run\n`)
  console.log('| write path | writes | CPU µs / write | folds | fold ms (mean / max) | rows wrong |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
  for (const foldMs of [undefined, ...foldIntervals]) {
    const result = run(foldMs)
    console.log(
      `| ${result.mode} | ${result.writes.toLocaleString('en')} | ${result.cpuUsPerWrite.toFixed(2)} | ${result.folds} | ` +
        `${result.folds ? `${result.foldMsMean.toFixed(1)} / ${result.foldMsMax.toFixed(1)}` : '–'} | ${result.wrong} |`
    )
    console.log(`LOGFOLD_JSON ${JSON.stringify({ rows, rate, ...result })}`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
