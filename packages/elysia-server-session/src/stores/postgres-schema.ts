/**
 * @module postgres-schema
 * The PostgreSQL schema and its migrations. The version lives in a one-row table beside the
 * sessions table; migrations run in one transaction that first takes an advisory lock named after
 * the table, so instances starting at once wait for each other and migrate once.
 */
import type { SQL } from 'bun'

/** Quoted names of the store's objects, from the options' schema and table. */
export type PostgresNames = {
  /** `"schema"."table"` */
  table: string
  /** `"schema"."table_schema"`: the version row */
  version: string
  schema: string
  /** The unquoted `schema.table`, for messages and the advisory lock's key. */
  label: string
  /** Prefix of index names (indexes live in the table's schema). */
  index: string
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,47}$/

/** Checks and quotes the names; only plain lower-case identifiers, so nothing needs escaping. */
export function postgresNames(schema: string, table: string): PostgresNames {
  for (const [what, name] of [['schema', schema], ['table', table]] as const) {
    if (!IDENTIFIER.test(name)) {
      throw new Error(`postgres store: the ${what} name must be lower-case letters, digits and _ (at most 48), not ${JSON.stringify(name)}`)
    }
  }
  return {
    table: `"${schema}"."${table}"`,
    version: `"${schema}"."${table}_schema"`,
    schema: `"${schema}"`,
    label: `${schema}.${table}`,
    index: `"${table}`,
  }
}

/** Each entry upgrades the schema by one version. Times are epoch milliseconds. */
const MIGRATIONS: readonly ((n: PostgresNames) => string)[] = [
  (n) => `
    CREATE TABLE ${n.table} (
      key text PRIMARY KEY,          -- SHA-256 of the session ID, never the ID
      data jsonb NOT NULL,           -- the session's data, merged key by key
      created_at bigint NOT NULL,    -- the absolute timeout counts from here
      last_seen_at bigint NOT NULL,  -- the last write or touch
      expires_at bigint NOT NULL,    -- the earlier of the idle and absolute deadlines
      renewed_at bigint NOT NULL,    -- when the current key was issued
      subject text,                  -- e.g. a user ID, for "log out everywhere"
      user_agent text,               -- the creating User-Agent, for a subject's list
      moved_to text                  -- set on a renamed session's old key during its grace window
    ) WITH (fillfactor = 80);        -- room on the page for updates that leave the indexes alone (HOT)
    CREATE INDEX ${n.index}_by_expiry" ON ${n.table} (expires_at);
    CREATE INDEX ${n.index}_by_subject" ON ${n.table} (subject) WHERE subject IS NOT NULL;
    CREATE INDEX ${n.index}_by_target" ON ${n.table} (moved_to) WHERE moved_to IS NOT NULL;`,
  // 2: per-session lifetimes ("remember me"); older rows are not remembered.
  (n) => `ALTER TABLE ${n.table} ADD COLUMN remembered boolean NOT NULL DEFAULT false;`,
]

/** The schema version this program writes. */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length

/** Brings the table to `POSTGRES_SCHEMA_VERSION`; refuses one written by a newer program. */
export async function migratePostgres(sql: SQL, names: PostgresNames): Promise<void> {
  // Up to date already (the usual start): nothing to lock or create, which also works read-only.
  const [found] = await sql.unsafe(`SELECT to_regclass($1) IS NOT NULL AS present`, [names.version])
  if (found.present) {
    const [row] = await sql.unsafe(`SELECT version FROM ${names.version}`)
    if (row?.version === POSTGRES_SCHEMA_VERSION) return
  }
  await sql.begin(async (tx) => {
    await tx.unsafe('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`elysia-server-session:${names.label}`])
    await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${names.schema}`)
    await tx.unsafe(`CREATE TABLE IF NOT EXISTS ${names.version} (version integer NOT NULL)`)
    const [row] = await tx.unsafe(`SELECT version FROM ${names.version}`)
    const current: number = row?.version ?? 0
    if (current > POSTGRES_SCHEMA_VERSION) {
      throw new Error(
        `session table ${names.label} has schema version ${current}, newer than this program supports (${POSTGRES_SCHEMA_VERSION})`
      )
    }
    for (let version = current; version < POSTGRES_SCHEMA_VERSION; version++) await tx.unsafe(MIGRATIONS[version]!(names))
    if (!row) await tx.unsafe(`INSERT INTO ${names.version} (version) VALUES ($1)`, [POSTGRES_SCHEMA_VERSION])
    else if (current !== POSTGRES_SCHEMA_VERSION) await tx.unsafe(`UPDATE ${names.version} SET version = $1`, [POSTGRES_SCHEMA_VERSION])
  })
}
