/**
 * @module postgres-runner
 * How the PostgreSQL store sends a statement: after the schema is ready, failing after
 * `commandTimeoutMs` whatever happens, failing at once while PostgreSQL is unreachable (one call
 * at a time tries to reconnect), with errors of values jsonb cannot hold turned into
 * `SessionValueError`, and the latest write's outcome kept for readiness.
 */
import type { SQL } from 'bun'
import { SessionValueError } from '../errors'
import { groupWrites } from './postgres-group'

export type PostgresRunnerOptions = {
  sql: SQL
  commandTimeoutMs: number
  /** Resolves when the schema is ready (run before every statement; cached by the caller). */
  schemaReady: () => Promise<void>
  /** Statements that write nothing: their outcome says nothing about writes. */
  reads: ReadonlySet<string>
  /** Single-row writes: those sent in one turn of the event loop share a commit (`postgres-group.ts`). */
  grouped: ReadonlySet<string>
  warn: (message: string) => void
}

/** Connection errors that come at once: every call may try again. */
const INSTANT = new Set(['ERR_POSTGRES_CONNECTION_REFUSED', 'ERR_POSTGRES_CONNECTION_CLOSED'])
/** SQLSTATEs of values jsonb cannot hold (NUL, unpaired surrogates) and of numbers out of range. */
const VALUE_STATES = new Set(['22P05', '22P02', '22003', '22021'])

export function createPostgresRunner({ sql, commandTimeoutMs, schemaReady, reads, grouped, warn }: PostgresRunnerOptions) {
  const sendGrouped = groupWrites(sql)
  const inflight = new Set<Promise<unknown>>()
  let closed = false
  /** The connection error while PostgreSQL is unreachable, else undefined. */
  let down: Error | undefined
  /**
   * While connecting hangs (a dead host, a firewall: not a refusal, which is instant), the one call
   * that tries to reconnect; the others fail at once instead of each waiting for the timeout.
   */
  let probe: Promise<unknown> | undefined
  const hangs = () => down !== undefined && !INSTANT.has(String((down as { code?: unknown }).code))
  let lastWrite: { at: number; error?: unknown } = { at: -Infinity }

  const timeout = () =>
    Object.assign(new Error(`PostgreSQL did not answer within ${commandTimeoutMs} ms`), { code: 'ERR_POSTGRES_TIMEOUT' })
  const failed = (error: any) => {
    const code = String(error?.code ?? '')
    if (code.startsWith('ERR_POSTGRES_CONNECTION')) {
      if (!down) warn(`session store: cannot reach PostgreSQL: ${error.message}`)
      down = error
    }
    if (code !== 'ERR_POSTGRES_SERVER_ERROR' || !VALUE_STATES.has(String(error.errno))) return error
    return Object.assign(new SessionValueError(`PostgreSQL cannot store this session value: ${error.message}`), { cause: error })
  }

  /** Tracks `promise` until it settles. */
  const track = (promise: Promise<unknown>) => {
    inflight.add(promise)
    promise.then(() => inflight.delete(promise), () => inflight.delete(promise))
  }

  /** Runs one statement. @returns its rows (with Bun's `count` on the array). */
  const run = <T = Record<string, any>>(text: string, params: unknown[]): Promise<T[]> => {
    if (closed) return Promise.reject(new Error('session store is closed'))
    if (probe && hangs()) return Promise.reject(down)
    const result = new Promise<T[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(timeout()), commandTimeoutMs)
      schemaReady()
        .then(() => (grouped.has(text) ? sendGrouped(text, params) : sql.unsafe(text, params)) as Promise<T[]>)
        .then(
          (rows) => {
            if (down) warn('session store: PostgreSQL connection restored')
            down = undefined
            resolve(rows)
          },
          (error) => reject(failed(error))
        )
        .finally(() => clearTimeout(timer))
    })
    track(result)
    if (hangs()) {
      probe = result
      result.then(() => (probe = undefined), () => (probe = undefined))
    }
    if (!reads.has(text)) {
      result.then(
        () => void (lastWrite = { at: performance.now() }),
        (error) => void (error instanceof SessionValueError || (lastWrite = { at: performance.now(), error }))
      )
    }
    return result
  }

  return {
    run,
    track,
    /** The error of the latest write when it failed within `withinMs`, else undefined. */
    recentWriteFailure: (withinMs: number): unknown =>
      lastWrite.error && performance.now() - lastWrite.at < withinMs ? lastWrite.error : undefined,
    /** Waits for every call accepted so far (and those they lead to), then refuses new ones. */
    async drain() {
      while (inflight.size > 0) await Promise.allSettled([...inflight])
      closed = true
    },
  }
}
