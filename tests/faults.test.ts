/**
 * Faults of the SQLite store, made real: a full disk (a tmpfs in the server's own mount
 * namespace), another process holding the write lock, a damaged record, an unwritable path.
 * Each gives a clear answer, loses nothing stored, and recovers without a restart.
 */
import { beforeAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { chmodSync, chownSync, existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { createApp } from '../src/app'
import { sqliteStore, storeKey } from 'elysia-server-session'
import { SECRET, buildBinary, client, handleWith, idOf, startServer, tempDir } from './helpers'

const dir = tempDir('faults-')
let binary = ''
beforeAll(async () => {
  binary = await buildBinary()
}, 120_000)

describe('store faults', () => {
  test('database full: 503 with a clear body, stored sessions intact, service resumes when space returns', async () => {
    const mount = join(dir, 'tmpfs')
    mkdirSync(mount)
    // The tmpfs exists only in the server's own mount namespace; nsenter reaches it to fill and free it.
    const server = await startServer(
      ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=1m tmpfs '${mount}' && exec "$0"`, binary],
      { cwd: dir, env: { SESSION_DB: join(mount, 'sessions.db'), SESSION_SECRET: SECRET, SESSION_FLOOD_THRESHOLD: '0' } }
    )
    const inNamespace = (script: string) =>
      Bun.spawnSync(['nsenter', '-t', String(server.proc.pid), '-m', 'sh', '-c', script]).exitCode
    const visit = (c = client((path, init) => fetch(server.base + path, init))) => c
    const regular = visit()
    for (let i = 1; i <= 3; i++) await regular.request('/')

    expect(inNamespace(`dd if=/dev/zero of='${mount}/filler' bs=4k 2>/dev/null; true`)).toBe(0)
    let full: Response | undefined
    for (let i = 0; i < 5000 && !full; i++) {
      const response = await fetch(server.base + '/')
      if (response.status !== 200) full = response
    }
    expect(full?.status).toBe(503)
    expect(full?.headers.get('retry-after')).toBe('30')
    expect(full?.headers.getSetCookie()).toEqual([])
    expect(await full!.text()).toBe('Session storage is full; nothing was saved. Please retry later.\n')
    const whileFull = await regular.request('/')
    expect([200, 503]).toContain(whileFull.status)
    const acknowledged = whileFull.status === 200 ? 4 : 3
    // Reads still work on a full disk: readiness follows the writes.
    const notReady = await fetch(server.base + '/readyz')
    expect(notReady.status).toBe(503)
    expect(await notReady.text()).toContain('SQLITE_FULL')
    expect((await fetch(server.base + '/healthz')).status).toBe(200)

    expect(inNamespace(`rm '${mount}/filler'`)).toBe(0)
    await Bun.sleep(1100) // the failed write's outcome ages out; the next check probes
    expect((await fetch(server.base + '/readyz')).status).toBe(200)
    expect(await (await regular.request('/')).text()).toBe(`You visited this page ${acknowledged + 1} times`)
    expect(await (await fetch(server.base + '/')).text()).toBe('Welcome to this page for the first time!')
    server.proc.kill('SIGTERM')
    expect(await server.proc.exited).toBe(0)
    expect(await new Response(server.proc.stderr).text()).toContain('SQLITE_FULL')
  }, 60_000)

  test('writes refused by the file system: /readyz 503 with the code, 200 and counting again once writable', async () => {
    // A read-only remount is refused while the database is open for writing (EBUSY); the immutable
    // flag refuses writes on the open files the same way (EPERM), and can be lifted again.
    const folder = join(dir, 'immutable')
    mkdirSync(folder)
    const db = join(folder, 'sessions.db')
    const server = await startServer([binary], { cwd: dir, env: { SESSION_DB: db, SESSION_SECRET: SECRET } })
    const chattr = (flag: string) => Bun.spawnSync(['chattr', flag, db, `${db}-wal`], { stderr: 'pipe' })
    const c = client((path, init) => fetch(server.base + path, init))
    try {
      await c.request('/')
      const refused = chattr('+i')
      if (refused.exitCode !== 0) throw new Error(`chattr +i failed (this test needs ext4 or similar under ${dir}): ${refused.stderr}`)
      expect((await c.request('/')).status).toBe(503)
      const notReady = await fetch(server.base + '/readyz')
      expect(notReady.status).toBe(503)
      expect(await notReady.text()).toContain('SQLITE_IOERR')
      await Bun.sleep(1100) // no write since: the check probes, and the probe fails too
      expect((await fetch(server.base + '/readyz')).status).toBe(503)
      expect(chattr('-i').exitCode).toBe(0)
      await Bun.sleep(1100)
      expect((await fetch(server.base + '/readyz')).status).toBe(200)
      expect(await (await c.request('/')).text()).toBe('You visited this page 2 times')
    } finally {
      chattr('-i')
      server.proc.kill('SIGTERM')
    }
    expect(await server.proc.exited).toBe(0)
    expect(await new Response(server.proc.stderr).text()).toMatch(/session store increment failed: SQLITE_IOERR\w*: disk I\/O error/)
  }, 30_000)

  test('lock contention past the busy timeout: 503 with Retry-After, quickly; then recovery', async () => {
    const path = join(dir, 'locked.db')
    const errors: string[] = []
    const store = sqliteStore({ path, busyTimeoutMs: 200, pruneIntervalMs: 0 })
    const c = client(handleWith(createApp({ store, secrets: [SECRET], log: { warn: () => {}, error: (m) => errors.push(m) } })))
    await c.request('/')
    // Another process takes the write lock and holds it.
    const holder = Bun.spawn(
      ['bun', '-e', `const { Database } = require('bun:sqlite'); const db = new Database(${JSON.stringify(path)}); db.run('BEGIN IMMEDIATE'); console.log('locked'); setTimeout(() => db.run('ROLLBACK'), 1500)`],
      { stdout: 'pipe' }
    )
    const reader = holder.stdout.getReader()
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('locked')
    const started = performance.now()
    const response = await c.request('/')
    const elapsed = performance.now() - started
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('1')
    expect(await response.text()).toBe('Session storage is busy; nothing was saved. Please retry shortly.\n')
    expect(elapsed).toBeLessThan(1000)
    // More failed requests: the fault was logged once, by its code; the repeats wait for the summary.
    for (const more of await Promise.all([1, 2, 3].map(() => c.request('/')))) expect(more.status).toBe(503)
    expect(errors).toEqual([expect.stringMatching(/^session store increment failed: SQLITE_BUSY: database is locked$/)])
    const ready = handleWith(createApp({ store, secrets: [SECRET], log: { warn: () => {}, error: () => {} } }))
    const locked = await ready('/readyz', {})
    expect(locked.status).toBe(503)
    expect(await locked.text()).toContain('SQLITE_BUSY')
    await holder.exited
    await Bun.sleep(1100)
    expect((await ready('/readyz', {})).status).toBe(200)
    expect(await (await c.request('/')).text()).toBe('You visited this page 2 times')
    await store.close()
  })

  test('a record whose data cannot be decoded: a fresh session, logged once, never a 500', async () => {
    const path = join(dir, 'damaged.db')
    const warnings: string[] = []
    const store = sqliteStore({ path, pruneIntervalMs: 0, warn: (m) => warnings.push(m) })
    const c = client(handleWith(createApp({ store, secrets: [SECRET] })))
    await c.request('/')
    const db = new Database(path)
    db.run("UPDATE sessions SET data = x'00ff' || 'garbage' WHERE key = ?", [storeKey(idOf(c.cookie!))])
    db.close()
    const stale = c.cookie!
    for (let i = 0; i < 3; i++) {
      const response = await handleWith(createApp({ store, secrets: [SECRET] }))('/', { headers: { cookie: stale } })
      expect(response.status).toBe(200)
      expect(await response.text()).toBe('Welcome to this page for the first time!')
    }
    expect(warnings).toEqual(['session store: a record\'s data could not be decoded; treated as no session'])
    await store.close()
  })

  test('a database path that cannot be written at start: exit 2 naming the path', () => {
    const locked = join(dir, 'root-only')
    mkdirSync(locked, { mode: 0o755 })
    chmodSync(dir, 0o755)
    const db = join(locked, 'sessions.db')
    const result = Bun.spawnSync(['setpriv', '--reuid=65532', '--regid=65532', '--clear-groups', binary], {
      env: { SESSION_DB: db, SESSION_SECRET: SECRET, PORT: '0' },
      cwd: '/',
      stderr: 'pipe',
    })
    expect(result.exitCode).toBe(2)
    expect(result.stderr.toString()).toStartWith(`session-counter: cannot open the session database ${db}:`)
  })
})

describe('start-up refuses a database it cannot write', () => {
  const asUser = ['setpriv', '--reuid=65532', '--regid=65532', '--clear-groups']
  /** Runs the binary to its exit (a server that starts is killed after 5 s: the old behaviour). */
  const runToExit = (command: string[], env: Record<string, string>) => {
    const result = Bun.spawnSync(command, { env: { PORT: '0', ...env }, cwd: '/', stderr: 'pipe', timeout: 5000 })
    return { code: result.exitCode, stderr: result.stderr.toString() }
  }

  test('a read-only file in a writable folder, as a non-root user: exit 2, one line naming the file; no secret written', async () => {
    const folder = join(dir, 'read-only-file')
    mkdirSync(folder)
    chmodSync(dir, 0o755)
    const db = join(folder, 'sessions.db')
    await sqliteStore({ path: db, pruneIntervalMs: 0 }).close() // a ready database, schema and all
    chownSync(folder, 65532, 65532)
    chmodSync(db, 0o644) // owned by root: the user can read it, not write it
    const { code, stderr } = runToExit([...asUser, binary], { SESSION_DB: db })
    expect(code).toBe(2)
    expect(stderr).toMatch(new RegExp(`^session-counter: cannot open the session database ${db}: .*readonly.*\n$`))
    expect(existsSync(join(folder, 'session-secret'))).toBe(false)
  })

  test('a full disk, with the -wal and -shm of an earlier run left beside the file: exit 2, one line naming the file and the reason', async () => {
    const mount = join(dir, 'full-at-start')
    mkdirSync(mount)
    const seeded = join(dir, 'seed.db')
    await sqliteStore({ path: seeded, pruneIntervalMs: 0 }).close()
    // A connection left open (as a crashed server leaves it) keeps the -wal and -shm files: copied
    // with the database, opening needs no new space; only a write does.
    const open = new Database(seeded)
    open.query('SELECT count(*) FROM sessions').get()
    const db = join(mount, 'sessions.db')
    const copy = `cp '${seeded}' '${db}' && cp '${seeded}-wal' '${db}-wal' && cp '${seeded}-shm' '${db}-shm'`
    const script = `mount -t tmpfs -o size=256k tmpfs '${mount}' && ${copy} && (dd if=/dev/zero of='${mount}/filler' bs=4k 2>/dev/null; true) && exec "$0"`
    const { code, stderr } = runToExit(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, binary], {
      SESSION_DB: db,
      SESSION_SECRET: SECRET,
      PATH: '/usr/bin:/bin',
    })
    open.close()
    expect(code).toBe(2)
    expect(stderr).toMatch(new RegExp(`^session-counter: cannot open the session database ${db}: .*SQLITE_FULL.*\n$`))
  })
})
