/**
 * @module sqlite-batch
 * Grouped transactions: the reads and writes that arrive together share one transaction, flushed
 * on the next turn of the event loop (IMMEDIATE when the batch writes, a plain read transaction
 * when it only reads), and each caller is answered only after that commit. Starting a
 * transaction costs syscalls for WAL locks, more than a whole primary-key lookup: sharing it is
 * what makes many small statements cheap.
 *
 * Each write validates before it writes, so an error of its own (a value too large, a wrong
 * type) fails that write alone. An engine fault (disk full, lock timeout) rolls the whole batch
 * back and fails every write in it: nothing in it is reported as saved.
 */
import { SQLiteError, type Database } from 'bun:sqlite'

type Op = { run: () => unknown; resolve: (value: any) => void; reject: (error: unknown) => void }

export type WriteBatcher = {
  /** Queues `run` for the next grouped commit; resolves with its result once committed. */
  write<T>(run: () => T): Promise<T>
  /** Queues `run`, which only reads, for the next grouped transaction. */
  read<T>(run: () => T): Promise<T>
  /** Commits what is queued now, then refuses new work. */
  close(): void
}

/** Thrown by a write that found the batch's own state inconsistent: the whole batch rolls back. */
export class BatchFault extends Error {}

export type BatchHooks = {
  /** Runs first inside every grouped transaction. */
  begin?: () => void
  /** Runs last inside every grouped transaction, before it commits; a throw rolls the batch back. */
  beforeCommit?: () => void
  /** Runs when a grouped transaction rolled back: nothing it wrote stands. */
  rolledBack?: () => void
  /** Told how each writing transaction ended: committed (no error) or the engine fault that rolled it back. */
  written?: (error?: unknown) => void
}

export function createWriteBatcher(db: Database, hooks: BatchHooks = {}): WriteBatcher {
  let queue: Op[] = []
  let writes = 0
  let closed = false
  const runBatch = db.transaction((batch: Op[], outcomes: PromiseSettledResult<unknown>[]) => {
    hooks.begin?.()
    for (const op of batch) {
      try {
        outcomes.push({ status: 'fulfilled', value: op.run() })
      } catch (error) {
        if (error instanceof SQLiteError || error instanceof BatchFault) throw error // roll the batch back
        outcomes.push({ status: 'rejected', reason: error })
      }
    }
    hooks.beforeCommit?.()
  })
  const flush = () => {
    const batch = queue
    if (batch.length === 0) return
    const writing = writes > 0
    queue = []
    writes = 0
    const outcomes: PromiseSettledResult<unknown>[] = []
    try {
      if (writing) runBatch.immediate(batch, outcomes)
      else runBatch.deferred(batch, outcomes)
    } catch (error) {
      hooks.rolledBack?.()
      if (writing) hooks.written?.(error)
      for (const op of batch) op.reject(error)
      return
    }
    if (writing) hooks.written?.()
    batch.forEach((op, i) => {
      const outcome = outcomes[i]!
      if (outcome.status === 'fulfilled') op.resolve(outcome.value)
      else op.reject(outcome.reason)
    })
  }
  const enqueue = <T>(run: () => T, write: boolean) =>
    new Promise<T>((resolve, reject) => {
      if (closed) return reject(new Error('session store is closed'))
      queue.push({ run, resolve, reject })
      if (write) writes++
      if (queue.length === 1) setImmediate(flush)
    })
  return {
    write: (run) => enqueue(run, true),
    read: (run) => enqueue(run, false),
    close() {
      flush()
      closed = true
    },
  }
}
