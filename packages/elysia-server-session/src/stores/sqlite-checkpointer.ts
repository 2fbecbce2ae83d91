/**
 * @module sqlite-checkpointer
 * WAL checkpoints on a worker thread with its own connection, off the event loop. A checkpoint
 * copies pages into the database file and fsyncs it: tens of milliseconds that would otherwise
 * stall every request of the process whose commit crossed SQLite's threshold.
 *
 * The worker's source is inline (a Blob URL) so that programs bundling this store with
 * `bun build --compile` need no extra entry point.
 */
import type { Database } from 'bun:sqlite'

const WORKER_SOURCE = `
const { Database } = require('bun:sqlite')
let db, timer
const checkpoint = () => {
  // Busy or briefly locked: the next tick tries again, and the writer's backstop still holds.
  try { db && db.run('PRAGMA wal_checkpoint(PASSIVE)') } catch {}
}
const checkpointAndTell = () => {
  checkpoint()
  postMessage('checkpointed')
}
self.onmessage = ({ data }) => {
  if (data === 'stop') {
    clearInterval(timer)
    checkpoint()
    if (db) db.close()
    db = undefined
    postMessage('stopped')
    return
  }
  db = new Database(data.path)
  db.run('PRAGMA busy_timeout = 1000')
  timer = setInterval(checkpointAndTell, data.intervalMs)
}
`

export type Checkpointer = { stop(): Promise<void> }

/**
 * Moves WAL checkpoints of the database at `path` to a worker. The writer keeps SQLite's inline
 * checkpoint only as a backstop at 10000 pages (40 MB), should the worker ever fall behind.
 */
export function startCheckpointer(
  db: Database,
  path: string,
  intervalMs: number,
  warn: (message: string) => void
): Checkpointer | undefined {
  let worker: Worker
  try {
    worker = new Worker(URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'application/javascript' })))
  } catch (error) {
    // No worker threads here: SQLite's own inline checkpoints still keep the log bounded.
    warn(`session store: no checkpoint worker (${String(error)}); checkpoints run inline`)
    return undefined
  }
  worker.unref()
  worker.onerror = (event) => warn(`session store: the checkpoint worker failed: ${event.message}`)
  db.run('PRAGMA wal_autocheckpoint = 10000')
  db.run('PRAGMA journal_size_limit = 67108864')
  // The worker copies the bulk while the writer keeps appending, so the log never ends fully
  // copied and SQLite never restarts it. After each round the writer copies the short tail
  // itself, between batches: then the next commit restarts the log from its beginning.
  worker.onmessage = () => {
    try {
      db.run('PRAGMA wal_checkpoint(PASSIVE)')
    } catch {}
  }
  worker.postMessage({ path, intervalMs })
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timeout)
          worker.terminate()
          resolve()
        }
        const timeout = setTimeout(done, 2000)
        worker.onmessage = done
        worker.postMessage('stop')
      }),
  }
}
