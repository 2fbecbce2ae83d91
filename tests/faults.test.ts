/**
 * Faults of the SQLite store, made real: a full disk (a tmpfs in the server's own mount
 * namespace), another process holding the write lock, a damaged record, an unwritable path.
 * Each gives a clear answer, loses nothing stored, and recovers without a restart.
 */
import { beforeAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { chmodSync, mkdirSync } from 'node:fs'
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

    expect(inNamespace(`rm '${mount}/filler'`)).toBe(0)
    expect(await (await regular.request('/')).text()).toBe(`You visited this page ${acknowledged + 1} times`)
    expect(await (await fetch(server.base + '/')).text()).toBe('Welcome to this page for the first time!')
    server.proc.kill('SIGTERM')
    expect(await server.proc.exited).toBe(0)
    expect(await new Response(server.proc.stderr).text()).toContain('SQLITE_FULL')
  }, 60_000)

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
    expect(errors.some((e) => e.includes('SQLITE_BUSY'))).toBe(true)
    await holder.exited
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
