/**
 * @module postgres-sql
 * The statements of the PostgreSQL store (see `postgres.ts`), built once per table. Each write is
 * one statement, so PostgreSQL's row lock makes it atomic: an `UPDATE` re-evaluates its `SET`
 * and `WHERE` on the newest version of a row another transaction just changed, so parallel merges
 * and increments never work from a stale copy. Writes name live records only (`moved_to IS NULL`):
 * a rename's grace pointer is never written through. Times are bigint milliseconds, read back as
 * float8 (exact below 2^53) so that they arrive as numbers.
 *
 * The size limit is measured on PostgreSQL's text of the merged jsonb (`octet_length(data::text)`),
 * which is JSON with a space after each `:` and `,`: at least as long as `JSON.stringify`'s, so data
 * that `encodeData` refuses is refused here too.
 */
import type { PostgresNames } from './postgres-schema'

/** A live (not expired, not a pointer) record: `$1` key, `$2` now. */
const LIVE = 'key = $1 AND expires_at > $2 AND moved_to IS NULL'
const TIMES = 'created_at::float8 AS created_at, last_seen_at::float8 AS last_seen_at, expires_at::float8 AS expires_at'
/** `$3` the new deadline or null (keep it, and last_seen_at, as they are). */
const DEADLINE = 'last_seen_at = CASE WHEN $3::int8 IS NULL THEN last_seen_at ELSE $2::int8 END, expires_at = coalesce($3::int8, expires_at)'
/** Update's merge: `set` the changed keys as JSON text, `unset` the keys to remove. */
const merged = (set: string, unset: string) => `((data || ${set}::text::jsonb) - ${unset}::text[])`
/** Increment's `field` as a number (missing and JSON null count as 0) plus `by`. */
const sum = (field: string, by: string) =>
  `(CASE WHEN jsonb_typeof(data -> ${field}::text) = 'number' THEN (data ->> ${field}::text)::float8 ELSE 0 END + ${by}::float8)`
const added = (field: string, by: string) => `jsonb_set(data, ARRAY[${field}::text], to_jsonb(${sum(field, by)}))`
const numeric = (field: string) => `coalesce(jsonb_typeof(data -> ${field}::text), 'null') IN ('number', 'null')`

export function postgresStatements({ table: T }: PostgresNames) {
  return {
    /** `$1` key, `$2` now. The record, following a live pointer one step (then `moved_to` is set). */
    get: `SELECT p.moved_to, s.data::text AS data, s.created_at::float8 AS created_at, s.last_seen_at::float8 AS last_seen_at,
        s.expires_at::float8 AS expires_at, s.renewed_at::float8 AS renewed_at, s.subject, s.user_agent, s.remembered
      FROM ${T} p JOIN ${T} s ON s.key = coalesce(p.moved_to, p.key)
      WHERE p.key = $1 AND p.expires_at > $2 AND s.expires_at > $2 AND s.moved_to IS NULL`,
    /** `$1` key, `$2` data text, `$3`..`$8` times, subject, user agent, `$9` maxBytes, `$10` remembered. No row: too large. */
    create: `INSERT INTO ${T} (key, data, created_at, last_seen_at, expires_at, renewed_at, subject, user_agent, remembered)
      SELECT $1, d, $3::int8, $4::int8, $5::int8, $6::int8, $7::text, $8::text, $10::bool FROM (SELECT $2::text::jsonb AS d) AS new
      WHERE octet_length(d::text) <= $9::int4 RETURNING 1 AS created`,
    /** `$1` data text: its size as this store counts it. */
    size: 'SELECT octet_length($1::text::jsonb::text) AS size',
    /** `$1`..`$5` as above, `$6` maxBytes, `$7` 0 keep the subject, 1 set it to `$8`, 2 clear it, `$9` remembered (null keeps it). */
    update: `UPDATE ${T} SET data = ${merged('$4', '$5')}, ${DEADLINE},
        subject = CASE $7::int4 WHEN 0 THEN subject WHEN 1 THEN $8::text ELSE NULL END, remembered = coalesce($9::bool, remembered)
      WHERE ${LIVE} AND octet_length(${merged('$4', '$5')}::text) <= $6::int4 RETURNING data::text AS data`,
    /** Why `update` wrote nothing: `$1` key, `$2` now, `$3` set, `$4` unset. No row (not live), or the merged size. */
    updateRefused: `SELECT octet_length(${merged('$3', '$4')}::text) AS size FROM ${T} WHERE ${LIVE}`,
    /** `$1`..`$3` as above, `$4` field, `$5` by, `$6` maxBytes. */
    increment: `UPDATE ${T} SET data = ${added('$4', '$5')}, ${DEADLINE}
      WHERE ${LIVE} AND ${numeric('$4')} AND octet_length(${added('$4', '$5')}::text) <= $6::int4
      RETURNING (data ->> $4::text)::float8 AS value`,
    /** Why `increment` wrote nothing: `$1` key, `$2` now, `$3` field, `$4` by. No row, the field's JSON type, or the new size. */
    incrementRefused: `SELECT jsonb_typeof(data -> $3::text) AS type, ${numeric('$3')} AS numeric,
        CASE WHEN ${numeric('$3')} THEN octet_length(${added('$3', '$4')}::text) END AS size
      FROM ${T} WHERE ${LIVE}`,
    /**
     * `$1` key, `$2` now, `$3` new deadline or null, `$4` fields. Deletes the fields and returns what
     * they held: the row is locked first (`FOR UPDATE`), so a parallel take waits, then reads the
     * row without them.
     */
    take: `UPDATE ${T} AS s SET data = s.data - $4::text[], ${DEADLINE}
      FROM (SELECT key, data FROM ${T} WHERE ${LIVE} FOR UPDATE) AS old WHERE s.key = old.key
      RETURNING (SELECT coalesce(jsonb_object_agg(f, old.data -> f), '{}'::jsonb) FROM unnest($4::text[]) AS f WHERE old.data ? f)::text AS taken`,
    /** `$1` key, `$2` now, `$3` new deadline. */
    touch: `UPDATE ${T} SET last_seen_at = $2::int8, expires_at = $3::int8 WHERE ${LIVE}`,
    /**
     * `$1` from, `$2` now, `$3` to, `$4` grace deadline, `$5` the renewing User-Agent (null keeps it). Moves the row to the new key, deletes the
     * pointer an earlier rename left for it (a record has at most one) and, when the grace deadline
     * (capped by the record's own) is still ahead, leaves a pointer at the old key.
     */
    rename: `WITH moved AS (
        UPDATE ${T} SET key = $3::text, renewed_at = $2::int8, user_agent = coalesce($5::text, user_agent) WHERE ${LIVE} RETURNING created_at, expires_at
      ), earlier AS (
        DELETE FROM ${T} WHERE moved_to = $1 AND EXISTS (SELECT 1 FROM moved)
      ), pointer AS (
        INSERT INTO ${T} (key, data, created_at, last_seen_at, expires_at, renewed_at, moved_to)
        SELECT $1, '{}', created_at, $2::int8, least($4::int8, expires_at), $2::int8, $3::text FROM moved WHERE least($4::int8, expires_at) > $2::int8
      ) SELECT count(*)::int4 AS moved FROM moved`,
    /** `$1` key. The record and every pointer to it. */
    destroy: `DELETE FROM ${T} WHERE key = $1 OR moved_to = $1`,
    /** `$1` subject, `$2` now. */
    listSubject: `SELECT key, ${TIMES}, user_agent, remembered FROM ${T}
      WHERE subject = $1 AND expires_at > $2 AND moved_to IS NULL ORDER BY last_seen_at DESC`,
    /** `$1` subject. Its records and every pointer to them; counts the records. */
    destroySubject: `WITH gone AS (DELETE FROM ${T} WHERE subject = $1 RETURNING key),
        pointers AS (DELETE FROM ${T} WHERE moved_to IN (SELECT key FROM gone))
      SELECT count(*)::int4 AS deleted FROM gone`,
    destroyAll: `WITH gone AS (DELETE FROM ${T} RETURNING moved_to) SELECT count(*) FILTER (WHERE moved_to IS NULL)::int4 AS deleted FROM gone`,
    /**
     * `$1` now, `$2` limit. One bounded batch; rows another instance's sweep (or a request) holds
     * are skipped, not waited for.
     */
    prune: `WITH batch AS (SELECT key FROM ${T} WHERE expires_at <= $1::int8 LIMIT $2::int4 FOR UPDATE SKIP LOCKED)
      DELETE FROM ${T} WHERE key IN (SELECT key FROM batch)`,
    /** Whether this connection could write: not a standby, not read-only by default. */
    writable: "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on' AS read_only",
    /** `$1` now. Counts every row: for operators and tests, never the request path. */
    stats: `SELECT count(*) FILTER (WHERE expires_at > $1::int8 AND moved_to IS NULL)::float8 AS live,
        count(*) FILTER (WHERE expires_at <= $1::int8)::float8 AS expired,
        count(*) FILTER (WHERE expires_at > $1::int8 AND moved_to IS NULL AND remembered)::float8 AS remembered, pg_total_relation_size('${T.replaceAll("'", "''")}')::float8 AS bytes
      FROM ${T}`,
  }
}
