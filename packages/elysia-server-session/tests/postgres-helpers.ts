/**
 * PostgreSQL for tests: a fresh database on the shared server (POSTGRES_ADMIN_URL, default
 * postgres://postgres@127.0.0.1:5432/postgres) per test file, dropped afterwards, and private
 * `postgres` processes (own data folder and port) for tests that stop the server.
 * When PostgreSQL is unreachable, tests are skipped with a loud notice; with CI set they fail instead.
 */
import { SQL } from 'bun'
import { afterAll } from 'bun:test'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './helpers'
import { postgresStore, type PostgresStoreOptions } from '../src/stores/postgres'
import { HOUR } from '../src/testing/fixtures'

export { T0, HOUR } from '../src/testing/fixtures'
/** The options of a write at `at` that moves the deadline an hour on. */
export const write = (at: number, maxBytes = 4096) => ({ now: at, expiresAt: at + HOUR, maxBytes })

export const POSTGRES_ADMIN_URL = process.env.POSTGRES_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/postgres'

async function answers(url: string): Promise<boolean> {
  const sql = new SQL(url, { max: 1, connectionTimeout: 2 })
  try {
    await sql`SELECT 1`
    return true
  } catch {
    return false
  } finally {
    await sql.close().catch(() => {})
  }
}

/** The folder of PostgreSQL's server programs (initdb, postgres), or undefined. */
const BIN = (() => {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const version = readdirSync(root).sort((a, b) => Number(b) - Number(a))[0]
  return version && existsSync(join(root, version, 'bin', 'postgres')) ? join(root, version, 'bin') : undefined
})()

/** PostgreSQL refuses to run as root: its processes run as the `postgres` user, when we are root. */
const USER = (() => {
  if (process.getuid?.() !== 0) return undefined
  const id = Bun.spawnSync(['id', '-u', 'postgres'], { stdout: 'pipe', stderr: 'ignore' })
  const gid = Bun.spawnSync(['id', '-g', 'postgres'], { stdout: 'pipe', stderr: 'ignore' })
  return id.success ? { uid: Number(id.stdout.toString()), gid: Number(gid.stdout.toString()) } : undefined
})()
const asUser = (command: string[]) =>
  USER ? ['setpriv', `--reuid=${USER.uid}`, `--regid=${USER.gid}`, '--clear-groups', '--', ...command] : command

/**
 * Whether PostgreSQL tests can run: the shared server answers (when `shared`) and, when
 * `ownServers`, initdb and postgres are installed. Otherwise throws under CI, or warns and returns false.
 */
export async function postgresReady(suite: string, ownServers = false, shared = true): Promise<boolean> {
  const missing = shared && !(await answers(POSTGRES_ADMIN_URL))
    ? `no PostgreSQL answers at ${POSTGRES_ADMIN_URL}`
    : ownServers && (!BIN || (process.getuid?.() === 0 && !USER))
      ? 'the PostgreSQL server programs (initdb, postgres) or the postgres user are missing'
      : ''
  if (!missing) return true
  if (process.env.CI) throw new Error(`${suite}: ${missing}, and CI is set: PostgreSQL tests must run`)
  console.warn(`\n!!! ${suite}: SKIPPED, ${missing} (set POSTGRES_ADMIN_URL, or CI=1 to make this a failure) !!!\n`)
  return false
}

/** Drops the databases of test runs that died before their own cleanup (their process is gone). */
async function dropAbandoned(admin: SQL) {
  const rows: { datname: string }[] = await admin`SELECT datname FROM pg_database WHERE datname LIKE 'sessions\_test\_%'`
  for (const { datname } of rows) {
    const pid = Number(datname.split('_')[2])
    if (!Number.isInteger(pid) || pid === process.pid || alive(pid)) continue
    await admin.unsafe(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {})
  }
}
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code !== 'ESRCH'
  }
}

let created = 0
/** A new, empty database on the shared server, dropped after the file's tests (call it at the top level of a test file). @returns its URL. */
export async function createTestDatabase(adminUrl = POSTGRES_ADMIN_URL): Promise<string> {
  const name = `sessions_test_${process.pid}_${Date.now().toString(36)}_${created++}`
  const admin = new SQL(adminUrl, { max: 1 })
  if (created === 1) await dropAbandoned(admin)
  await admin.unsafe(`CREATE DATABASE "${name}"`)
  await admin.close()
  afterAll(async () => {
    const sql = new SQL(adminUrl, { max: 1 })
    await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    await sql.close()
  })
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/**
 * A test file's PostgreSQL: whether it can run, a fresh database, stores on new tables of it
 * (pruning off), and an admin client. Call it at the top level of the file.
 */
export async function postgresTestDatabase(suite: string) {
  const ready = await postgresReady(suite)
  const url = ready ? await createTestDatabase() : ''
  let tables = 0
  /** A table name not used before in this database. */
  const table = (prefix = 't') => `${prefix}${tables++}`
  return {
    ready,
    url,
    table,
    open: (options: PostgresStoreOptions = {}) => postgresStore({ url, table: table('s'), pruneIntervalMs: 0, ...options }),
    admin: () => new SQL(url, { max: 2 }),
  }
}

export type OwnPostgres = {
  port: number
  /** The `postgres` database of this server. */
  url: string
  /** Fast shutdown (SIGINT: connections are closed, nothing committed is lost); resolves once it exited. */
  stop(): Promise<void>
  /** Starts it again on the same port and data folder; resolves once it answers. */
  start(): Promise<void>
}

/** A private PostgreSQL on a free port with its own data folder (removed after the file's tests). */
export async function startOwnPostgres(): Promise<OwnPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'own-postgres-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  if (USER) chownSync(dir, USER.uid, USER.gid)
  const data = join(dir, 'data')
  const init = Bun.spawnSync(asUser([join(BIN!, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']), { stdout: 'pipe', stderr: 'pipe' })
  if (!init.success) throw new Error(`initdb failed: ${init.stderr.toString()}`)
  const port = await freePort()
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  let proc: Bun.Subprocess | undefined
  const start = async () => {
    const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on']
    proc = Bun.spawn(asUser([join(BIN!, 'postgres'), ...args]), { stdout: 'ignore', stderr: Bun.file(join(dir, 'server.log')) })
    const deadline = Date.now() + 15_000
    while (!(await answers(url))) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        throw new Error(`postgres on port ${port} did not start: ${await Bun.file(join(dir, 'server.log')).text()}`)
      }
      await Bun.sleep(50)
    }
  }
  const stop = async () => {
    if (!proc || proc.exitCode !== null) return
    proc.kill('SIGINT')
    await proc.exited
  }
  await start()
  afterAll(stop)
  return { port, url, stop, start }
}
