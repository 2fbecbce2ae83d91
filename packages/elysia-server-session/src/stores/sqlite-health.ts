/**
 * @module sqlite-health
 * Whether writes to the database work, for start-up and readiness. Reads keep working on a full
 * disk, a read-only file or a remounted volume, so a read proves nothing: readiness follows the
 * outcome of the latest grouped write and, when there was none lately, a probe that commits a
 * write changing nothing (`user_version` set to its own value: one page appended to the WAL).
 */
import type { Database } from 'bun:sqlite'

export type WriteHealthOptions = {
  /** The connection's busy timeout, restored after a probe. */
  busyTimeoutMs: number
  /** A write outcome younger than this answers `check` without a probe. @default 1000 */
  freshMs?: number
  /** How long a readiness probe waits for another process's lock. @default 250 */
  probeBusyTimeoutMs?: number
}

export type WriteHealth = {
  /** Told how each grouped write ended: no error when it committed. */
  written(error?: unknown): void
  /** Commits a write that changes nothing, waiting up to the full busy timeout; throws when it cannot. */
  probe(): void
  /** Throws the latest write fault, unless a write committed since; probes at most once per `freshMs`. */
  check(): void
}

/** The store's write health. Probes run between grouped transactions (all synchronous), never inside one. */
export function createWriteHealth(db: Database, options: WriteHealthOptions): WriteHealth {
  const { busyTimeoutMs, freshMs = 1000, probeBusyTimeoutMs = 250 } = options
  let last: { at: number; error?: unknown } | undefined
  const readVersion = db.prepare<{ user_version: number }, []>('PRAGMA user_version')
  const rewrite = db.transaction((version: number) => db.run(`PRAGMA user_version = ${version}`))
  const probe = (timeoutMs: number) => {
    if (timeoutMs !== busyTimeoutMs) db.run(`PRAGMA busy_timeout = ${timeoutMs}`)
    try {
      rewrite.immediate(readVersion.get()!.user_version)
      last = { at: performance.now() }
    } catch (error) {
      last = { at: performance.now(), error }
      throw error
    } finally {
      if (timeoutMs !== busyTimeoutMs) db.run(`PRAGMA busy_timeout = ${busyTimeoutMs}`)
    }
  }
  return {
    written: (error) => void (last = { at: performance.now(), error }),
    probe: () => probe(busyTimeoutMs),
    check() {
      if (!last || performance.now() - last.at >= freshMs) return probe(Math.min(busyTimeoutMs, probeBusyTimeoutMs))
      if (last.error !== undefined) throw last.error
    },
  }
}
