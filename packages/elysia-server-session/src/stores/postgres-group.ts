/**
 * @module postgres-group
 * Grouped commits for the PostgreSQL store: the single-row writes sent in one turn of the event
 * loop go out as one pipelined transaction, so that they share one commit (one WAL flush) instead
 * of each waiting for its own; every caller is answered after that commit. Each statement is as
 * atomic as alone; the transaction only adds that they commit together.
 *
 * Statements are ordered by their first parameter (the store key) so that two groups lock shared
 * rows in the same order and never deadlock each other; writes to one key keep their order.
 * A group that PostgreSQL refused (a server error: nothing was committed) is sent again one
 * statement at a time, so that each caller gets its own answer. A group whose connection failed
 * is not: it may have committed, and sending it again could apply it twice.
 */
import type { SQL } from 'bun'

/** A server error of a statement (the transaction rolled back), not of the connection or a shutdown. */
function refused(error: unknown): boolean {
  const { code, errno } = error as { code?: unknown; errno?: unknown }
  return code === 'ERR_POSTGRES_SERVER_ERROR' && !/^(08|57)/.test(String(errno))
}

type Write = { text: string; params: unknown[]; resolve: (rows: unknown[]) => void; reject: (error: unknown) => void }

/** @returns `send(text, params)`, which resolves with the statement's rows after its group committed. */
export function groupWrites(sql: SQL) {
  let queue: Write[] = []

  const alone = (write: Write) => (sql.unsafe(write.text, write.params) as Promise<unknown[]>).then(write.resolve, write.reject)
  const flush = async () => {
    const group = queue
    queue = []
    if (group.length === 1) return alone(group[0]!)
    group.sort((a, b) => (String(a.params[0]) < String(b.params[0]) ? -1 : String(a.params[0]) > String(b.params[0]) ? 1 : 0))
    try {
      const results = (await sql.begin((tx) => group.map((write) => tx.unsafe(write.text, write.params)) as never)) as unknown[][]
      group.forEach((write, i) => write.resolve(results[i]!))
    } catch (error) {
      if (!refused(error)) return void group.forEach((write) => write.reject(error))
      await Promise.all(group.map(alone))
    }
  }

  return (text: string, params: unknown[]): Promise<unknown[]> =>
    new Promise((resolve, reject) => {
      queue.push({ text, params, resolve, reject })
      if (queue.length === 1) setImmediate(flush)
    })
}
