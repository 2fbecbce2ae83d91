/**
 * @module sqlite-batch
 * Grouped commits: writes that arrive together share one IMMEDIATE transaction, flushed on the
 * next turn of the event loop, and each caller is answered only after that commit.
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
  /** Commits what is queued now, then refuses new writes. */
  close(): void
}

export function createWriteBatcher(db: Database): WriteBatcher {
  let queue: Op[] = []
  let closed = false
  const runBatch = db.transaction((batch: Op[], outcomes: PromiseSettledResult<unknown>[]) => {
    for (const op of batch) {
      try {
        outcomes.push({ status: 'fulfilled', value: op.run() })
      } catch (error) {
        if (error instanceof SQLiteError) throw error // an engine fault: roll the batch back
        outcomes.push({ status: 'rejected', reason: error })
      }
    }
  })
  const flush = () => {
    const batch = queue
    if (batch.length === 0) return
    queue = []
    const outcomes: PromiseSettledResult<unknown>[] = []
    try {
      runBatch.immediate(batch, outcomes)
    } catch (error) {
      for (const op of batch) op.reject(error)
      return
    }
    batch.forEach((op, i) => {
      const outcome = outcomes[i]!
      if (outcome.status === 'fulfilled') op.resolve(outcome.value)
      else op.reject(outcome.reason)
    })
  }
  return {
    write: <T>(run: () => T) =>
      new Promise<T>((resolve, reject) => {
        if (closed) return reject(new Error('session store is closed'))
        queue.push({ run, resolve, reject })
        if (queue.length === 1) setImmediate(flush)
      }),
    close() {
      flush()
      closed = true
    },
  }
}
