/**
 * @module sqlite-checkpointer
 * WAL checkpoints on a worker thread with its own connection, off the event loop. A checkpoint
 * copies pages into the database file and fsyncs it: tens of milliseconds that would otherwise
 * stall every request of the process whose commit crossed SQLite's threshold. The same worker
 * runs full-table reads (`stats` counts) for the same reason: a COUNT over a million rows is
 * 150-200 ms that the event loop would otherwise spend blocked.
 *
 * Under steady writes the worker's checkpoint never ends with the whole log copied (the writer
 * appends while it copies), and SQLite restarts the log only after one that does. The writer
 * itself copies the short rest, between its batches, once the log holds `restartBytes`: that
 * copy ends with an fsync of the database file, a few milliseconds of blocked event loop (2-7
 * ms measured here), so it is rare, not every round (every round made the returning visitors'
 * p99 10-11 ms against 3.5-3.7, and cost 5 % of their throughput).
 *
 * The worker's source is inline (a Blob URL) so that programs bundling this store with
 * `bun build --compile` need no extra entry point.
 */
import type { Database } from 'bun:sqlite'

const WORKER_SOURCE = `
const { Database } = require('bun:sqlite')
let db, timer, interval
const checkpoint = () => {
  // Busy or briefly locked: the next tick tries again, and the writer's backstop still holds.
  try { db && db.run('PRAGMA wal_checkpoint(PASSIVE)') } catch {}
}
let last
// Passes repeat (at most 5) while each copies many frames, which the writer appended during the
// one before, so that what is left for the writer's copy is short; then the worker tells the
// writer how long the log is, and waits for its 'next'. With one pass a round, on a fixed
// interval, a million sessions' returning visitors had a p99 of 105-112 ms; with these, 17-58 ms.
const checkpointAndTell = () => {
  if (!db) return
  try {
    for (let pass = 0; pass < 5; pass++) {
      const result = db.query('PRAGMA wal_checkpoint(PASSIVE)').get()
      // A log shorter than at the last pass has restarted: all it holds is new.
      const copied = last === undefined || result.log < last.log ? result.checkpointed : result.checkpointed - last.checkpointed
      last = result
      if (copied <= 256) break
    }
    postMessage({ checkpointed: last })
  } catch {
    timer = setTimeout(checkpointAndTell, interval)
  }
}
self.onmessage = ({ data }) => {
  if (data.query !== undefined) {
    try {
      if (!db) throw new Error('the checkpoint worker has no connection')
      postMessage({ answer: data.id, row: db.query(data.query).get(...data.params) })
    } catch (error) {
      postMessage({ answer: data.id, error: { message: String(error && error.message), code: error && error.code } })
    }
    return
  }
  // The writer's copy is done: the next round waits the interval from now, so that the worker's
  // writes and fsync never overlap the writer's fsync (which would then wait for them too).
  if (data === 'next') {
    if (db) timer = setTimeout(checkpointAndTell, interval)
    return
  }
  if (data === 'stop') {
    clearTimeout(timer)
    checkpoint()
    if (db) db.close()
    db = undefined
    postMessage('stopped')
    return
  }
  db = new Database(data.path)
  db.run('PRAGMA busy_timeout = 1000')
  interval = data.intervalMs
  timer = setTimeout(checkpointAndTell, interval)
}
`

/** How long a full-table read on the worker may take before its caller is told it failed. */
const QUERY_TIMEOUT_MS = 60_000

export type Checkpointer = {
  /** The first row of the read-only `sql`, run by the worker's connection. */
  queryRow<Row>(sql: string, params: readonly (string | number)[]): Promise<Row>
  stop(): Promise<void>
}

export type CheckpointerOptions = {
  /** Milliseconds between the worker's checkpoints. */
  intervalMs: number
  /** Log size at which the writer copies the rest itself, so that the log restarts. */
  restartBytes: number
}

/**
 * Moves WAL checkpoints of the database at `path` to a worker. The writer keeps SQLite's inline
 * checkpoint only as a backstop at four times `restartBytes`, should the worker ever fall behind.
 */
export function startCheckpointer(
  db: Database,
  path: string,
  { intervalMs, restartBytes }: CheckpointerOptions,
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
  const { page_size: pageSize } = db.query<{ page_size: number }, []>('PRAGMA page_size').get()!
  // A log frame is a page and a 24-byte header.
  const restartFrames = Math.max(1, Math.floor(restartBytes / (pageSize + 24)))
  db.run(`PRAGMA wal_autocheckpoint = ${restartFrames * 4}`)
  // A restarted log keeps its file (past twice the restart size it is cut back): a log that grows
  // past its file's end again makes the file system allocate, which a later fsync waits for.
  db.run(`PRAGMA journal_size_limit = ${restartBytes * 2}`)
  const answers = new Map<number, { resolve: (row: any) => void; reject: (error: unknown) => void }>()
  let asked = 0
  let stopped: (() => void) | undefined
  worker.onmessage = ({ data }) => {
    if (data === 'stopped') return stopped?.()
    if (data.checkpointed) {
      // The worker copies the bulk; the writer copies the rest only once the log is long.
      if (data.checkpointed.log >= restartFrames) {
        try {
          db.run('PRAGMA wal_checkpoint(PASSIVE)')
        } catch {}
      }
      return worker.postMessage('next')
    }
    const answer = answers.get(data.answer)
    answers.delete(data.answer)
    if (data.error) answer?.reject(Object.assign(new Error(data.error.message), { code: data.error.code }))
    else answer?.resolve(data.row)
  }
  worker.postMessage({ path, intervalMs })
  return {
    queryRow: (query, params) =>
      new Promise((resolve, reject) => {
        if (stopped) return reject(new Error('session store is closed'))
        const id = ++asked
        // A worker that died never answers: the caller gets an error, not a promise that never settles.
        const timer = setTimeout(() => answers.delete(id) && reject(new Error(`the checkpoint worker did not answer within ${QUERY_TIMEOUT_MS} ms`)), QUERY_TIMEOUT_MS)
        timer.unref()
        const settled = (settle: (value: any) => void) => (value: unknown) => (clearTimeout(timer), settle(value))
        answers.set(id, { resolve: settled(resolve), reject: settled(reject) })
        worker.postMessage({ query, params, id })
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        const timeout = setTimeout(() => stopped!(), 2000)
        stopped = () => {
          clearTimeout(timeout)
          worker.terminate()
          for (const { reject } of answers.values()) reject(new Error('session store is closed'))
          answers.clear()
          resolve()
        }
        worker.postMessage('stop')
      }),
  }
}
