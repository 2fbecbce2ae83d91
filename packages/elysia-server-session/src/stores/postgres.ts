/**
 * @module postgres
 * A store on PostgreSQL (or a PostgreSQL-protocol database such as CockroachDB or YugabyteDB)
 * through Bun's built-in SQL client, so that many instances share sessions.
 *
 * One row per session in a table the options name (`postgres-schema.ts`: versioned, migrated at
 * start under an advisory lock). Every write is one statement (`postgres-sql.ts`) that merges only
 * the keys a request changed into the jsonb data, or adds to one number, on the current row:
 * never a whole stale copy. Parallel increments of one field share a statement
 * (`postgres-combine.ts`), and writes sent in one turn of the event loop share a commit
 * (`postgres-group.ts`). Expired rows are never served, and are deleted in bounded batches on
 * a timer whose period is randomised between instances.
 *
 * Faults fail fast (`postgres-runner.ts`): a refused connection fails the call at once, while
 * connecting hangs one call at a time tries and the others fail at once, a call fails after
 * `commandTimeoutMs` whatever happens (it may still have been applied), and the pool reconnects
 * on demand when the server is back. Errors keep Bun's `code` (`ERR_POSTGRES_*`) and SQLSTATE
 * (`errno`), which `SessionStoreError` turns into the client's answer.
 */
import { SQL } from 'bun'
import { SessionTooLargeError, SessionValueError } from '../errors'
import type { SessionData, SessionRecord, SessionSummary, WriteOptions } from '../store'
import type { FullSessionStore } from '../capabilities'
import { combineIncrements } from './postgres-combine'
import { damagedRecordReporter, decodeData, encodeData, startPruner } from './records'
import { createPostgresRunner } from './postgres-runner'
import { migratePostgres, postgresNames } from './postgres-schema'
import { postgresStatements } from './postgres-sql'

export type PostgresStoreOptions = {
  /** `postgres://user:password@host:port/database`. @default env DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres */
  url?: string
  /** An existing client to use instead of one made from `url`; `close()` leaves it open. */
  sql?: SQL
  /** Connections in the pool (more was slower on 2 cores). @default 10 */
  poolSize?: number
  /** The schema holding the table; created when missing. @default 'public' */
  schema?: string
  /** The sessions table; created and migrated at start. @default 'sessions' */
  table?: string
  /** Milliseconds a call may take before it fails (it may still be applied). @default 2000 */
  commandTimeoutMs?: number
  /** Average milliseconds between sweeps (each instance waits 50-150 % of it); 0 turns them off. @default 60000 */
  pruneIntervalMs?: number
  /** Rows deleted per statement while sweeping. @default 500 */
  pruneBatchSize?: number
  now?: () => number
  warn?: (message: string) => void
  /** Told how many expired records each sweep deleted. */
  onPruned?: (count: number) => void
}

/** The defaults of `postgresStore`. */
export const POSTGRES_STORE_DEFAULTS = {
  url: 'postgres://postgres@127.0.0.1:5432/postgres',
  poolSize: 10,
  schema: 'public',
  table: 'sessions',
  commandTimeoutMs: 2000,
  pruneIntervalMs: 60_000,
  pruneBatchSize: 500,
} as const

type Row = {
  moved_to: string | null
  data: string
  created_at: number
  last_seen_at: number
  expires_at: number
  renewed_at: number
  subject: string | null
  user_agent: string | null
  remembered: boolean
}

/** A write outcome younger than this answers `ping` (as in the SQLite store). */
const WRITE_OUTCOME_MS = 1000
const JSON_TYPES: Record<string, string> = { array: 'object', object: 'object', string: 'string', boolean: 'boolean' }

/**
 * @example
 * const store = postgresStore({ url: process.env.DATABASE_URL, table: 'sessions' })
 * new Elysia().use(session({ store, secrets: [process.env.SESSION_SECRET!] }))
 */
export function postgresStore(options: PostgresStoreOptions = {}): FullSessionStore {
  const settings = { ...POSTGRES_STORE_DEFAULTS, url: Bun.env.DATABASE_URL || POSTGRES_STORE_DEFAULTS.url, ...options }
  const { commandTimeoutMs, now = Date.now, warn = console.warn } = settings
  const names = postgresNames(settings.schema, settings.table)
  const q = postgresStatements(names)
  // Connecting gives up (whole seconds) before a call's own timeout, so that a call reports why.
  const connectionTimeout = Math.max(1, Math.ceil(commandTimeoutMs / 1000) - 1)
  const sql = options.sql ?? new SQL(settings.url, { max: settings.poolSize, idleTimeout: 60, connectionTimeout })
  const reportDamaged = damagedRecordReporter(warn)
  let closing: Promise<void> | undefined

  // The schema before any statement; a failure (the server down) is retried by the next call.
  let migrated: Promise<void> | undefined
  const schemaReady = () =>
    (migrated ??= migratePostgres(sql, names).catch((error) => {
      migrated = undefined
      throw error
    }))
  const reads = new Set([q.get, q.listSubject, q.stats, q.size, q.updateRefused, q.incrementRefused, q.writable])
  const grouped = new Set([q.create, q.update, q.increment, q.take, q.touch, q.rename, q.destroy])
  const { run, track, recentWriteFailure, drain } = createPostgresRunner({ sql, commandTimeoutMs, schemaReady, reads, grouped, warn })

  /** JSON text of the changed keys, and every key to remove (undefined values included). */
  const split = (set: SessionData, unset: readonly string[]): [string, string[]] => {
    const removed = [...unset]
    for (const [name, value] of Object.entries(set)) if (value === undefined) removed.push(name)
    return [JSON.stringify(set), removed]
  }
  const decode = (key: string, json: string): SessionData | undefined => {
    const data = decodeData(json)
    if (!data) reportDamaged(key)
    return data
  }
  const deadline = (expiresAt: number | undefined) => expiresAt ?? null

  // Migrate now: a server that is down, or a table from a newer program, is reported at start.
  track(schemaReady().catch((error) => warn(`session store: cannot prepare ${names.label}: ${(error as Error).message}`)))

  /** One increment, one statement; `combineIncrements` shares statements between parallel ones. */
  const incrementOne = async (key: string, field: string, by: number, { now: at, expiresAt, maxBytes }: WriteOptions) => {
    if (!Number.isFinite(by)) throw new SessionValueError(`cannot increment "${field}" by ${by}`, field)
    const [row] = await run<{ value: number }>(q.increment, [key, at, deadline(expiresAt), field, by, maxBytes])
    if (row) return row.value
    const [refused] = await run<{ type: string | null; numeric: boolean; size: number }>(q.incrementRefused, [key, at, field, by])
    if (!refused) return undefined
    if (!refused.numeric) throw new SessionValueError(`cannot increment "${field}": it holds a ${JSON_TYPES[refused.type!] ?? refused.type}`, field)
    throw new SessionTooLargeError(refused.size, maxBytes)
  }

  const store: FullSessionStore = {
    async get(key, at) {
      const [row] = await run<Row>(q.get, [key, at])
      const data = row && decode(key, row.data)
      if (!row || !data) return undefined
      const record: SessionRecord = {
        data,
        createdAt: row.created_at,
        lastSeenAt: row.last_seen_at,
        expiresAt: row.expires_at,
        renewedAt: row.renewed_at,
      }
      if (row.subject !== null) record.subject = row.subject
      if (row.user_agent !== null) record.userAgent = row.user_agent
      if (row.remembered) record.remembered = true
      if (row.moved_to !== null) record.movedTo = row.moved_to
      return record
    },
    async create(key, { data, createdAt, lastSeenAt, expiresAt, renewedAt, subject, userAgent, remembered = false }, maxBytes) {
      const json = encodeData(data, maxBytes) // throws when too large
      const params = [key, json, createdAt, lastSeenAt, expiresAt, renewedAt, subject ?? null, userAgent ?? null, maxBytes, remembered]
      const [created] = await run(q.create, params)
      if (!created) throw new SessionTooLargeError((await run(q.size, [json]))[0]!.size, maxBytes)
    },
    async update(key, changes, { now: at, expiresAt, maxBytes }) {
      const [set, unset] = split(changes.set, changes.unset)
      const op = changes.subject === undefined ? 0 : changes.subject === null ? 2 : 1
      const params = [key, at, deadline(expiresAt), set, unset, maxBytes, op, changes.subject ?? null, changes.remembered ?? null]
      const [row] = await run<{ data: string }>(q.update, params)
      if (row) return decode(key, row.data)
      const [refused] = await run<{ size: number }>(q.updateRefused, [key, at, set, unset])
      if (!refused) return undefined
      throw new SessionTooLargeError(refused.size, maxBytes)
    },
    increment: combineIncrements(incrementOne),
    async take(key, fields, { now: at, expiresAt }) {
      const [row] = await run<{ taken: string }>(q.take, [key, at, deadline(expiresAt), [...fields]])
      return row ? decode(key, row.taken) ?? {} : undefined
    },
    async touch(key, at, expiresAt) {
      const result = await run(q.touch, [key, at, expiresAt])
      return (result as unknown as { count: number }).count === 1
    },
    async rename(fromKey, toKey, at, graceUntil = at, userAgent) {
      const [row] = await run<{ moved: number }>(q.rename, [fromKey, at, toKey, graceUntil, userAgent ?? null])
      return row!.moved === 1
    },
    async destroy(key) {
      await run(q.destroy, [key])
    },
    async listSubject(subject, at) {
      const rows = await run<Row & { key: string }>(q.listSubject, [subject, at])
      return rows.map((row): SessionSummary => {
        const summary: SessionSummary = { key: row.key, createdAt: row.created_at, lastSeenAt: row.last_seen_at, expiresAt: row.expires_at, remembered: row.remembered }
        if (row.user_agent !== null) summary.userAgent = row.user_agent
        return summary
      })
    },
    async destroySubject(subject) {
      return (await run<{ deleted: number }>(q.destroySubject, [subject]))[0]!.deleted
    },
    async destroyAll() {
      return (await run<{ deleted: number }>(q.destroyAll, []))[0]!.deleted
    },
    async prune(at, limit) {
      const result = await run(q.prune, [at, limit])
      return (result as unknown as { count: number }).count
    },
    async stats(at) {
      const [row] = await run<{ live: number; expired: number; bytes: number; remembered: number }>(q.stats, [at])
      return { live: row!.live, expired: row!.expired, bytes: row!.bytes, remembered: row!.remembered }
    },
    async ping() {
      const failed = recentWriteFailure(WRITE_OUTCOME_MS) as { message?: string; code?: string; errno?: string } | undefined
      if (failed) {
        const { code, errno } = failed
        throw Object.assign(new Error(`the latest write failed: ${failed.message}`, { cause: failed }), { code, errno })
      }
      const [row] = await run<{ read_only: boolean }>(q.writable, [])
      if (row!.read_only) {
        const message = 'PostgreSQL is read-only here (a standby, or default_transaction_read_only): writes would fail'
        throw Object.assign(new Error(message), { code: 'ERR_POSTGRES_SERVER_ERROR', errno: '25006' })
      }
    },
    async close() {
      if (closing) return closing
      stopPruner()
      // Calls accepted before close finish first, combined increments that were waiting included.
      closing = (async () => {
        await drain()
        if (!options.sql) await sql.close()
      })()
      return closing
    },
  }
  const stopPruner = startPruner(store, {
    intervalMs: settings.pruneIntervalMs,
    batchSize: settings.pruneBatchSize,
    jitter: true,
    now,
    onError: (error) => warn(`session store: pruning failed: ${String(error)}`),
    onPruned: options.onPruned,
  })
  return store
}
