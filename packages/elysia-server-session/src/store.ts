/**
 * @module store
 * The contract between the session layer and a storage engine. One file per engine lives in
 * `stores/`; every engine passes the shared conformance suite in `testing/conformance.ts` (published as `elysia-server-session/testing`).
 *
 * Keys are SHA-256 digests of session IDs (see `ids.ts`), never IDs. All times are epoch
 * milliseconds handed in by the caller, so that one injectable clock governs expiry everywhere.
 *
 * The core contract (`SessionStore`) is what a request needs; `capabilities.ts` holds the optional
 * rest. For every method:
 * - A record that is missing or expired (`expiresAt <= now`) is "no session": `undefined` or
 *   `false`, never an error. (Tampered cookies never reach a store: the caller rejects them.)
 * - A thrown error means a system fault (disk full, lock timeout, connection lost). The caller
 *   turns it into a 503 for that request and reports nothing as saved.
 * - A write that resolves is durable as far as the engine goes: the caller acknowledges it to the
 *   client only after that.
 */

import type { JsonValue } from './json'

/** The data a session holds: JSON values by key (the session layer checks them before a store sees them). */
export type SessionData = Record<string, JsonValue>

export type SessionRecord = {
  data: SessionData
  /** When the session was created; the absolute timeout counts from here. */
  createdAt: number
  /** The last write or touch; the idle timeout counts from here. */
  lastSeenAt: number
  /** The earlier of the idle and the absolute deadline. */
  expiresAt: number
  /** When the current ID was issued (creation or the last rename); automatic renewal counts from here. */
  renewedAt: number
  /** The subject (a user ID) the session is bound to, for listing and revoking a user's sessions. */
  subject?: string
  /**
   * The User-Agent (at most 256 characters) of the request that created the session or, since,
   * last renamed it (`regenerate()`, automatic renewal): for a subject's list of devices.
   */
  userAgent?: string
  /**
   * "Remember me": the session lives by the long lifetime of the options (the caller computes the
   * deadlines from it). Kept by every write that does not change it, and by `rename`.
   */
  remembered?: boolean
  /**
   * Set by `get` only, when `key` is the old key of a renamed session still inside its grace
   * window: the key that holds the record now. Writes go there.
   */
  movedTo?: string
}

/** One of a subject's sessions, as `listSubject` reports it. */
export type SessionSummary = {
  /** The store key: an opaque handle for `destroy` (a hash, never the ID). */
  key: string
  createdAt: number
  lastSeenAt: number
  expiresAt: number
  userAgent?: string
  /** Whether the session is remembered ("remember me"). */
  remembered: boolean
}

/** The keys one request changed: merged onto the current record, never a whole stale copy. */
export type SessionChanges = {
  set: SessionData
  unset: readonly string[]
  /** A new subject binding; `null` unbinds; absent leaves it as it is. */
  subject?: string | null
  /** A new "remember me" setting; absent leaves it as it is. */
  remembered?: boolean
}

/** Timing and limits for a write. */
export type WriteOptions = {
  now: number
  /**
   * The new deadline of the record (the caller applies both timeouts), and `now` becomes its
   * `lastSeenAt`. Omitted: both stay as they are (the caller refreshes deadlines at most once per
   * touch interval, which spares an index update and a Set-Cookie on most writes).
   */
  expiresAt?: number
  /** The largest serialised data allowed; larger throws `SessionTooLargeError`. */
  maxBytes: number
}

/** What `stats` (the stats capability) reports. */
export type StoreStats = {
  /** Records not expired at `now`. */
  live: number
  /** Records expired but not pruned yet (0 for engines that expire natively). */
  expired: number
  /** Storage used, when the engine can tell (the SQLite file with its WAL). */
  bytes?: number
  /** Live records that are remembered ("remember me"), when the engine counts them. */
  remembered?: number
}

/**
 * The core: what a request needs. Everything else a store may offer (subjects, prune, stats,
 * destroy-all) is an optional capability in `capabilities.ts`, looked for where it is used.
 */
export interface SessionStore {
  /** The record at `key`, or `undefined` when it is missing or expired at `now`. */
  get(key: string, now: number): Promise<SessionRecord | undefined>

  /** Writes a new record at `key`. Keys come from 256-bit IDs, so a collision is a system fault. */
  create(key: string, record: SessionRecord, maxBytes: number): Promise<void>

  /**
   * Applies `changes` to the current record in one atomic step and moves its deadline.
   * @returns the merged data, or `undefined` when the record is missing or expired (nothing written).
   */
  update(key: string, changes: SessionChanges, options: WriteOptions): Promise<SessionData | undefined>

  /**
   * Adds `by` to the number at `field` (missing counts as 0) in one atomic step and moves the
   * deadline. Throws `SessionValueError` when the field holds something other than a number.
   * @returns the new value, or `undefined` when the record is missing or expired.
   */
  increment(key: string, field: string, by: number, options: WriteOptions): Promise<number | undefined>

  /**
   * Deletes `fields` from the data and returns the values they held, in one atomic step (flash
   * messages: of two parallel calls, exactly one gets each value), and moves the deadline as
   * `update` does. Fields that are missing are left out of the result.
   * @returns the taken values, or `undefined` when the record is missing or expired.
   */
  take(key: string, fields: readonly string[], options: WriteOptions): Promise<SessionData | undefined>

  /** Moves the deadline and `lastSeenAt` only. @returns false when the record is missing or expired. */
  touch(key: string, now: number, expiresAt: number): Promise<boolean>

  /**
   * Moves the record at `fromKey` to `toKey` in one atomic step: data and timestamps kept,
   * `renewedAt` set to `now`.
   * - Without `graceUntil` (or with one not later than `now`): nothing is left at `fromKey`, which
   *   opens nothing from that step on (`regenerate()`, login: the old ID may be an attacker's).
   * - With `graceUntil` later than `now` (automatic renewal only): `fromKey` stays readable until
   *   then (and never past the record's own deadline) as a pointer to `toKey`: `get(fromKey)`
   *   returns the record with `movedTo: toKey`; writes to `fromKey` itself find no live record.
   * A record has at most one pointer: in the same step, a pointer an earlier rename left at
   * another key for this record is deleted.
   * `userAgent`, when given, replaces the record's `userAgent` (the device as of this renewal).
   * @returns false when there is no live record at `fromKey` (a pointer is none).
   */
  rename(fromKey: string, toKey: string, now: number, graceUntil?: number, userAgent?: string): Promise<boolean>

  /**
   * Deletes the record at `key` and, in the same atomic step, the grace pointer to it, so that no
   * old ID opens it afterwards. Deleting a missing record is not an error.
   */
  destroy(key: string): Promise<void>

  /**
   * Resolves when the engine answers and can write; throws when it cannot (readiness checks), with
   * the engine's error (its `code`, e.g. SQLITE_FULL, WRONGPASS). Cheap enough for every probe:
   * engines judge writes by recent outcomes or a bounded probe, never a scan. Absent: always ready.
   */
  ping?(): Promise<void>

  /** Stops timers and releases the engine. Pending writes finish first. Absent: nothing to release. */
  close?(): Promise<void>
}
