/**
 * The operator commands of the compiled binary (`sessions stats|prune|revoke`, `secret generate`),
 * on a real SQLite file and on the real Redis, with their error cases.
 */
import { beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { redisStore, sqliteStore, storeKey, type FullSessionStore } from 'elysia-server-session'
import { Database } from 'bun:sqlite'
import { runAdminCommand } from '../src/admin'
import { buildBinary, client, idOf, startServer, tempDir, SECRET } from './helpers'
import { REDIS_URL, RUN_PREFIX, deleteKeys, redisReady } from '../packages/elysia-server-session/tests/redis-helpers'

const dir = tempDir('admin-')
let binary = ''
beforeAll(async () => {
  binary = await buildBinary()
}, 120_000)

function run(args: string[], env: Record<string, string> = {}) {
  const result = Bun.spawnSync([binary, ...args], { cwd: dir, env: { PATH: '/usr/bin:/bin', SESSION_SECRET: SECRET, ...env }, stdout: 'pipe', stderr: 'pipe' })
  return { code: result.exitCode, out: result.stdout.toString().trim(), err: result.stderr.toString().trim() }
}

/** Two sessions of alice, one of bob, one anonymous, one expired: written through the library. */
async function seed(store: FullSessionStore) {
  const now = Date.now()
  const record = (expiresAt: number, subject?: string, remembered = false) => ({ data: { views: 1 }, createdAt: now, lastSeenAt: now, expiresAt, renewedAt: now, subject, remembered })
  await store.create('alice-1', record(now + 600_000, 'alice'), 1000)
  await store.create('alice-2', record(now + 600_000, 'alice', true), 1000)
  await store.create('bob-1', record(now + 600_000, 'bob'), 1000)
  await store.create('anon-1', record(now + 600_000), 1000)
  await store.create('expired-1', record(now + 1500), 1000)
  await store.close()
  await Bun.sleep(1600)
}

describe('sessions commands on SQLite', () => {
  const db = join(dir, 'admin.db')
  const flags = ['--session-db', db]
  beforeAll(() => seed(sqliteStore({ path: db, pruneIntervalMs: 0 })))

  test('stats, prune, revoke by subject, revoke all', () => {
    const stats = run(['sessions', 'stats', ...flags])
    expect(stats.code).toBe(0)
    expect(stats.out).toMatch(/^4 live sessions \(1 remembered\), 1 expired not yet pruned, \d+ bytes stored$/)
    expect(run(['sessions', 'prune', ...flags]).out).toBe('pruned 1 expired sessions')
    expect(run(['sessions', 'stats', ...flags]).out).toStartWith('4 live sessions (1 remembered), 0 expired')
    expect(run(['sessions', 'revoke', '--subject', 'alice', ...flags]).out).toBe('revoked 2 sessions')
    expect(run(['sessions', 'revoke', '--subject', 'alice', ...flags]).out).toBe('revoked 0 sessions')
    expect(run(['sessions', 'revoke', '--all', ...flags]).out).toBe('revoked 2 sessions')
    expect(run(['sessions', 'stats', ...flags]).out).toStartWith('0 live sessions (0 remembered), 0 expired')
  })

  test('backup copies the database while a server writes to it; the copy opens and checks ok', async () => {
    const live = join(dir, 'live.db')
    const server = await startServer([binary], { cwd: dir, env: { SESSION_DB: live, SESSION_SECRET: SECRET } })
    const c = client((path, init) => fetch(server.base + path, init))
    for (let i = 0; i < 3; i++) await c.request('/')
    let writing = true
    const traffic = (async () => {
      while (writing) await fetch(server.base + '/')
    })()
    const copy = join(dir, 'backup.db')
    const result = run(['sessions', 'backup', copy, '--session-db', live])
    writing = false
    await traffic
    expect(result.code).toBe(0)
    expect(result.out).toMatch(/^backed up .*live\.db to .*backup\.db \(\d+ bytes\)$/)
    const db = new Database(copy, { readonly: true })
    expect(db.query('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' })
    const views = db.query("SELECT json_extract(data, '$.views') AS v FROM sessions WHERE key = ?").get(storeKey(idOf(c.cookie!)))
    expect(views).toEqual({ v: 3 })
    db.close()
    expect(run(['sessions', 'backup', copy, '--session-db', live]).err).toContain('exists')
    server.proc.kill('SIGTERM')
    expect(await server.proc.exited).toBe(0)
  }, 30_000)

  test('errors are one clear line: usage exits 2, a missing database exits 2', () => {
    for (const args of [['sessions'], ['sessions', 'backup'], ['sessions', 'revoke'], ['sessions', 'revoke', '--subject'], ['sessions', 'stats', '--bogus']]) {
      const result = run(args)
      expect(result.code).toBe(2)
      expect(result.err).toStartWith('session-counter: ')
    }
    for (const target of [join(dir, 'no-such-folder', 'copy.db'), '/proc/copy.db']) {
      const unwritable = run(['sessions', 'backup', target, ...flags])
      expect(unwritable.code).toBe(1)
      expect(unwritable.err).toMatch(/^session-counter: sessions backup failed: cannot write .*copy\.db: [^\n]+$/)
    }
    const missing = run(['sessions', 'stats', '--session-db', join(dir, 'nope.db')])
    expect(missing.code).toBe(2)
    expect(missing.err).toBe(`session-counter: no session database at ${join(dir, 'nope.db')}`)
  })
})

describe('sessions commands on Redis', async () => {
  const ready = await redisReady('admin commands on Redis')
  const prefix = `${RUN_PREFIX}admin:`
  const env = { SESSION_STORE: 'redis', REDIS_URL, SESSION_REDIS_PREFIX: prefix }

  test.skipIf(!ready)('stats, revoke by subject, revoke all', async () => {
    await seed(redisStore({ url: REDIS_URL, prefix }))
    expect(run(['sessions', 'stats'], env).out).toMatch(/^4 live sessions \(1 remembered\), /)
    expect(run(['sessions', 'prune'], env).out).toMatch(/^pruned [01] expired sessions$/) // Redis may have expired it itself
    expect(run(['sessions', 'stats'], env).out).toStartWith('4 live sessions (1 remembered), 0 expired not yet pruned')
    expect(run(['sessions', 'revoke', '--subject', 'alice'], env).out).toBe('revoked 2 sessions')
    expect(run(['sessions', 'revoke', '--all'], env).out).toBe('revoked 2 sessions')
    expect(run(['sessions', 'stats'], env).out).toStartWith('0 live sessions')
    await deleteKeys(prefix)
  }, 20_000)

  test('Redis unreachable: a clear error and exit 1, quickly', () => {
    const started = performance.now()
    const result = run(['sessions', 'stats'], { ...env, REDIS_URL: 'redis://127.0.0.1:1' })
    expect(result.code).toBe(1)
    expect(result.err.split('\n').at(-1)).toStartWith('session-counter: sessions stats failed:')
    expect(performance.now() - started).toBeLessThan(5000)
  })
})

test('secret generate prints a fresh 64-character secret each time', () => {
  const [a, b] = [run(['secret', 'generate']).out, run(['secret', 'generate']).out]
  expect(a).toMatch(/^[A-Za-z0-9_-]{64}$/)
  expect(a).not.toBe(b)
})

test('a command on a store without its capability is a clear error, not a crash', async () => {
  const core = { get: async () => undefined } as unknown as FullSessionStore // a store with no capability
  await expect(runAdminCommand({ command: 'stats', rest: [] }, core)).rejects.toThrow('sessions stats: the store lacks the stats capability (stats)')
  await expect(runAdminCommand({ command: 'prune', rest: [] }, core)).rejects.toThrow('sessions prune: the store lacks the prune capability (prune)')
  await expect(runAdminCommand({ command: 'revoke', all: true, rest: [] }, core)).rejects.toThrow('the store lacks the destroyAll capability')
  await expect(runAdminCommand({ command: 'revoke', subject: 'u1', rest: [] }, core)).rejects.toThrow('the store lacks the subjects capability')
})
