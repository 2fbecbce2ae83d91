/**
 * The PostgreSQL store's faults, against real servers: a lock held past the call timeout, a
 * read-only database, an address that never answers, a key collision, and a server of the test's
 * own stopped under load and started again.
 */
import { describe, expect, test } from 'bun:test'
import { SessionStoreError } from '../../src/errors'
import { postgresStore } from '../../src/stores/postgres'
import { HOUR, postgresReady, postgresTestDatabase, startOwnPostgres, T0, write } from '../postgres-helpers'
import { key, record } from '../../src/testing'

const { ready, url, open, admin, table: newTable } = await postgresTestDatabase('postgres store fault tests')
const readOnly = await postgresTestDatabase('postgres store fault tests')
const ownServers = ready && (await postgresReady('postgres store fault tests', true))

describe.skipIf(!ready)('postgres store faults', () => {
  test('a call that waits on a lock fails after commandTimeoutMs (a clear code), and the store serves after', async () => {
    const table = newTable('locked')
    const store = postgresStore({ url, table, pruneIntervalMs: 0, commandTimeoutMs: 300 })
    const k = key()
    await store.create(k, record({ views: 1 }), 1000)
    const sql = admin()
    let release!: () => void
    let locked!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const isLocked = new Promise<void>((resolve) => (locked = resolve))
    const holding = sql.begin(async (tx) => {
      await tx.unsafe(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`)
      locked()
      await released
    })
    await isLocked
    const started = performance.now()
    const error = await store.increment(k, 'views', 1, write(T0 + 1)).catch((e) => e)
    const took = performance.now() - started
    expect(error).toMatchObject({ code: 'ERR_POSTGRES_TIMEOUT' })
    expect(took).toBeGreaterThanOrEqual(290)
    expect(took).toBeLessThan(600)
    expect(new SessionStoreError('x', { cause: error }).toResponse().status).toBe(503)
    release()
    await holding
    await Bun.sleep(50)
    // The timed-out increment was applied once the lock went: a timeout says "unknown", never "lost".
    expect(await store.increment(k, 'views', 1, write(T0 + 2))).toBeOneOf([2, 3])
    await sql.close()
    await store.close()
  })

  test('ping: fails on a read-only database (a standby, default_transaction_read_only) and right after a failed write', async () => {
    const setup = postgresStore({ url: readOnly.url, pruneIntervalMs: 0 })
    const k = key()
    await setup.create(k, record({ views: 1 }), 1000)
    await setup.close()
    const sql = admin()
    const database = new URL(readOnly.url).pathname.slice(1)
    await sql.unsafe(`ALTER DATABASE "${database}" SET default_transaction_read_only = on`)
    const store = postgresStore({ url: readOnly.url, pruneIntervalMs: 0 })
    try {
      expect((await store.get(k, T0))?.data).toEqual({ views: 1 }) // reads work
      expect(store.ping()).rejects.toMatchObject({ errno: '25006', message: expect.stringContaining('read-only') })
      const failed = await store.increment(k, 'views', 1, write(T0 + 1)).catch((e) => e)
      expect(failed).toMatchObject({ code: 'ERR_POSTGRES_SERVER_ERROR', errno: '25006' })
      expect(new SessionStoreError('increment', { cause: failed }).toResponse().status).toBe(503)
      // The failed write answers the next ping itself, without a probe.
      const pinged = await store.ping().catch((e) => e)
      expect(pinged.cause).toBe(failed)
      expect(pinged.message).toStartWith('the latest write failed: ')
      expect(pinged.errno).toBe('25006')
    } finally {
      await store.close()
      await sql.unsafe(`ALTER DATABASE "${database}" RESET default_transaction_read_only`)
      await sql.close()
    }
  })

  test('an address that never answers: one call waits to reconnect, the others fail at once', async () => {
    // 10.255.255.1 is not routed: connecting there hangs until the connection timeout.
    const store = postgresStore({ url: 'postgres://postgres@10.255.255.1:5432/x', pruneIntervalMs: 0, commandTimeoutMs: 2000, warn: () => {} })
    try {
      await store.ping().catch(() => {}) // the first failure: down
      const probing = store.ping().catch((e) => e)
      const started = performance.now()
      const others = await Promise.all(Array.from({ length: 20 }, () => store.get(key(), T0).catch((e) => e)))
      expect(performance.now() - started).toBeLessThan(100)
      for (const error of others) expect(String(error.code)).toMatch(/^ERR_POSTGRES_CONNECTION/)
      expect(String((await probing).code)).toMatch(/^ERR_POSTGRES_(CONNECTION|TIMEOUT)/)
    } finally {
      await store.close()
    }
  }, 20_000)

  test('a key collision is a 500 without Retry-After (retrying cannot help), not a 503', async () => {
    const store = open()
    const k = key()
    await store.create(k, record({ a: 1 }), 1000)
    const error = await store.create(k, record({ b: 1 }), 1000).catch((e) => e)
    expect(error).toMatchObject({ code: 'ERR_POSTGRES_SERVER_ERROR', errno: '23505' })
    const response = new SessionStoreError('create failed', { cause: error }).toResponse()
    expect(response.status).toBe(500)
    expect(response.headers.get('retry-after')).toBeNull()
    expect(await response.text()).toBe('Session storage refused the write; nothing was saved.\n')
    expect((await store.get(k, T0))?.data).toEqual({ a: 1 })
    await store.close()
  })
})

describe.skipIf(!ownServers)('postgres store on a server of its own', () => {
  test('stopped under load: in-flight calls fail, new ones fail fast, ping too; back: the same store serves, nothing acknowledged lost', async () => {
    const server = await startOwnPostgres()
    const warnings: string[] = []
    const store = postgresStore({ url: server.url, pruneIntervalMs: 0, warn: (m) => warnings.push(m) })
    let running = true
    try {
      const k = key()
      await store.create(k, record({ views: 0 }), 1000)
      let acknowledged = 0
      const loops = Array.from({ length: 8 }, async () => {
        while (running) {
          await store.increment(k, 'views', 1, write(T0 + 1)).then(() => acknowledged++, () => Bun.sleep(5))
        }
      })
      await Bun.sleep(300)
      await server.stop()
      const seenAtStop = acknowledged
      const calls: [string, () => Promise<unknown>][] = [
        ['get', () => store.get(k, T0)],
        ['increment', () => store.increment(k, 'views', 1, write(T0 + 2))],
        ['update', () => store.update(k, { set: { a: 1 }, unset: [] }, write(T0 + 2))],
        ['create', () => store.create(key(), record({ a: 1 }), 1000)],
        ['touch', () => store.touch(k, T0 + 1, T0 + HOUR)],
        ['ping', () => store.ping()],
      ]
      for (const [name, call] of calls) {
        const started = performance.now()
        const error = await call().catch((e) => e)
        expect(String((error as { code?: string }).code), name).toMatch(/^ERR_POSTGRES_CONNECTION/)
        expect(new SessionStoreError(name, { cause: error }).toResponse().headers.get('retry-after'), name).toBe('1')
        expect(performance.now() - started, name).toBeLessThan(600)
      }
      expect(acknowledged - seenAtStop).toBeLessThanOrEqual(8) // at most the calls in flight completed
      expect(warnings.some((w) => w.includes('cannot reach PostgreSQL'))).toBe(true)

      await server.start()
      const back = performance.now()
      while (!(await store.ping().then(() => true, () => false))) {
        if (performance.now() - back > 3000) throw new Error('the store did not reconnect within 3 s')
        await Bun.sleep(10)
      }
      console.log(`postgres restarted: the store answered ${(performance.now() - back).toFixed(0)} ms after the server was up`)
      await Bun.sleep(200)
      running = false
      await Promise.all(loops)
      const views = (await store.get(k, T0 + 3))?.data.views as number
      // Every acknowledged increment is stored; at most the ones in flight at the stop were applied unacknowledged.
      expect(views).toBeGreaterThanOrEqual(acknowledged)
      expect(views - acknowledged).toBeLessThanOrEqual(8)
      expect(acknowledged).toBeGreaterThan(seenAtStop)
      expect(warnings.some((w) => w.includes('restored'))).toBe(true)
    } finally {
      running = false
      await store.close()
      await server.stop()
    }
  }, 60_000)
})
