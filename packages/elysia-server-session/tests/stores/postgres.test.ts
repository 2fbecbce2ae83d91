/**
 * The PostgreSQL store against a real server: the shared conformance suite on a fresh database,
 * then what is specific to PostgreSQL (schema and migrations, exact round trips, the size limit,
 * concurrent instances, pruning, fail-fast faults and recovery on a server of the test's own).
 */
import { describe, expect, test } from 'bun:test'
import { SQL } from 'bun'
import { SessionStoreError, SessionTooLargeError, SessionValueError } from '../../src/errors'
import { generateId, storeKey } from '../../src/ids'
import type { FullSessionStore } from '../../src/capabilities'
import { memoryStore } from '../../src/stores/memory'
import { postgresStore } from '../../src/stores/postgres'
import { POSTGRES_SCHEMA_VERSION } from '../../src/stores/postgres-schema'
import { encodeData } from '../../src/stores/records'
import { createTestDatabase, postgresReady, startOwnPostgres } from '../postgres-helpers'
import { key, record, storeConformance } from '../../src/testing'

const ready = await postgresReady('postgres store tests')
const ownServers = ready && (await postgresReady('postgres store fault tests', true))
const [url, readOnlyUrl] = ready ? [await createTestDatabase(), await createTestDatabase()] : ['', '']
let n = 0
const open = (options: Parameters<typeof postgresStore>[0] = {}) =>
  postgresStore({ url, table: `s${n++}`, pruneIntervalMs: 0, ...options })

if (ready) storeConformance('postgres', () => open())

const T0 = 1_700_000_000_000
const HOUR = 3_600_000
const write = (at: number, maxBytes = 4096) => ({ now: at, expiresAt: at + HOUR, maxBytes })
const admin = () => new SQL(url, { max: 2 })

describe.skipIf(!ready)('postgres store specifics', () => {
  test('schema and table as the options name them, versioned; keys are SHA-256 store keys, never IDs', async () => {
    const store = open({ schema: 'app_sessions', table: 'web' })
    const id = generateId()
    await store.create(storeKey(id), record({ views: 1 }, T0, T0 + HOUR, { subject: 'u1' }), 1000)
    await store.rename(storeKey(id), storeKey(id + 'x'), T0 + 1, T0 + 1000)
    await store.close()
    const sql = admin()
    expect(await sql`SELECT version FROM app_sessions.web_schema`).toEqual([{ version: POSTGRES_SCHEMA_VERSION }])
    const rows = await sql`SELECT key, data::text AS data, moved_to FROM app_sessions.web ORDER BY moved_to NULLS FIRST`
    expect(rows.map((r: { key: string }) => r.key)).toEqual([storeKey(id + 'x'), storeKey(id)])
    expect(JSON.stringify(rows)).not.toContain(id)
    const indexes = await sql`SELECT indexdef FROM pg_indexes WHERE schemaname = 'app_sessions' AND tablename = 'web'`
    expect(indexes.map((i: { indexdef: string }) => /\((\w+)\)/.exec(i.indexdef)![1]).sort()).toEqual(['expires_at', 'key', 'moved_to', 'subject'])
    // A table written by a newer program is refused, not misread.
    await sql`UPDATE app_sessions.web_schema SET version = ${POSTGRES_SCHEMA_VERSION + 1}`
    const newer = postgresStore({ url, schema: 'app_sessions', table: 'web', pruneIntervalMs: 0 })
    expect(newer.get(storeKey(id), T0)).rejects.toThrow(/newer than this program supports/)
    await newer.close()
    await sql.close()
    expect(() => postgresStore({ url, table: 'Sessions; DROP TABLE x' })).toThrow(/table name must be lower-case/)
  })

  test('eight instances starting at once on a new table migrate it once, and all serve', async () => {
    const table = `fresh${n++}`
    const stores = Array.from({ length: 8 }, () => postgresStore({ url, table, pruneIntervalMs: 0, poolSize: 2 }))
    await Promise.all(stores.map((store) => store.ping())) // each migrates first, at the same moment
    const k = key()
    await stores[0]!.create(k, record({ views: 0 }), 1000)
    const counts = await Promise.all(stores.map((store) => store.increment(k, 'views', 1, write(T0 + 1))))
    expect(counts.toSorted()).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    await Promise.all(stores.map((store) => store.close()))
  })

  test('two stores (two pools) incrementing one record in parallel count exactly', async () => {
    const table = `shared${n++}`
    const [a, b] = [postgresStore({ url, table, pruneIntervalMs: 0 }), postgresStore({ url, table, pruneIntervalMs: 0 })]
    const k = key()
    await a.create(k, record({ views: 0, other: 'x' }), 1000)
    const values = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).increment(k, 'views', 1, write(T0 + i))))
    expect(values.toSorted((x, y) => x! - y!)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
    // Merges from both instances on other keys keep every increment.
    await Promise.all([a.update(k, { set: { fromA: 1 }, unset: [] }, write(T0 + 300)), b.update(k, { set: { fromB: 1 }, unset: ['other'] }, write(T0 + 300))])
    expect((await a.get(k, T0 + 301))?.data).toEqual({ views: 200, fromA: 1, fromB: 1 })
    await Promise.all([a.close(), b.close()])
  })

  test('parallel increments of one field share statements: exact, each its own value, far fewer row updates', async () => {
    const table = `hot${n++}`
    const store = postgresStore({ url, table, pruneIntervalMs: 0 })
    const k = key()
    await store.create(k, record({ views: 0 }), 1000)
    // A trigger counts the row updates PostgreSQL makes.
    const sql = admin()
    await sql.unsafe(`CREATE TABLE ${table}_updates (n int NOT NULL);
      INSERT INTO ${table}_updates VALUES (0);
      CREATE FUNCTION ${table}_count() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN UPDATE ${table}_updates SET n = n + 1; RETURN NEW; END';
      CREATE TRIGGER counted BEFORE UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_count();`)
    const values = await Promise.all(Array.from({ length: 100 }, (_, i) => store.increment(k, 'views', 1 + (i % 3), write(T0 + i))))
    const expected = Array.from({ length: 100 }, (_, i) => 1 + (i % 3)).reduce((sum, by) => sum + by, 0)
    expect(new Set(values).size).toBe(100)
    expect(Math.max(...(values as number[]))).toBe(expected)
    expect((await store.get(k, T0 + 200))?.data).toEqual({ views: expected })
    const [{ n: updates }] = await sql.unsafe(`SELECT n FROM ${table}_updates`)
    expect(updates).toBeLessThan(20)
    // The deadline is the last caller's.
    expect((await store.get(k, T0 + 200))?.expiresAt).toBe(T0 + 99 + HOUR)
    await sql.close()
    await store.close()
  })

  test('close() lets every call accepted before it finish, combined increments waiting their turn included', async () => {
    const store = open()
    const k = key()
    await store.create(k, record({ views: 0 }), 1000)
    const pending = Array.from({ length: 50 }, () => store.increment(k, 'views', 1, write(T0 + 1)))
    await store.close()
    const results = await Promise.allSettled(pending)
    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
    const check = open({ table: `s${n - 1}` })
    expect((await check.get(k, T0 + 2))?.data).toEqual({ views: 50 })
    await check.close()
  })

  test('writes sent in one turn of the event loop share one commit (one transaction: one xmin)', async () => {
    const table = `grouped${n++}`
    const store = postgresStore({ url, table, pruneIntervalMs: 0 })
    const keys = Array.from({ length: 20 }, () => key())
    for (const k of keys) await store.create(k, record({ views: 0 }), 1000)
    const values = await Promise.all(keys.map((k) => store.increment(k, 'views', 1, write(T0 + 1))))
    expect(values).toEqual(keys.map(() => 1))
    const sql = admin()
    const [{ commits }] = await sql.unsafe(`SELECT count(DISTINCT xmin::text)::int AS commits FROM ${table}`)
    expect(commits).toBeLessThan(5)
    await sql.close()
    await store.close()
  })

  test('a group with a refused write: the others are applied, each caller gets its own answer', async () => {
    const store = open()
    const [a, b, c] = [key(), key(), key()]
    for (const k of [a, b]) await store.create(k, record({ views: 1, name: 'x' }), 1000)
    const results = await Promise.allSettled([
      store.increment(a, 'views', 1, write(T0 + 1)),
      store.update(b, { set: { name: 'nul \u0000 inside' }, unset: [] }, write(T0 + 1)),
      store.create(c, record({ views: 7 }), 1000),
      store.update(b, { set: { views: 5 }, unset: [] }, write(T0 + 1)),
    ])
    expect(results[0]).toEqual({ status: 'fulfilled', value: 2 })
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(SessionValueError)
    expect(results[2]).toEqual({ status: 'fulfilled', value: undefined })
    expect(results[3]).toEqual({ status: 'fulfilled', value: { views: 5, name: 'x' } })
    expect((await store.get(c, T0 + 2))?.data).toEqual({ views: 7 })
    await store.close()
  })

  test('a combined increment that is refused is retried one by one: each caller gets its own answer', async () => {
    const store = open()
    const k = key()
    await store.create(k, record({ n: 8 }), 1000)
    const size = Buffer.byteLength('{"n": 9}')
    const results = await Promise.allSettled([1, 1, 1].map(() => store.increment(k, 'n', 1, write(T0 + 1, size))))
    expect(results[0]).toEqual({ status: 'fulfilled', value: 9 })
    for (const result of results.slice(1)) expect((result as PromiseRejectedResult).reason).toBeInstanceOf(SessionTooLargeError)
    expect((await store.get(k, T0 + 2))?.data).toEqual({ n: 9 })
    await store.close()
  })

  test('data and increments read back exactly as the memory store keeps them', async () => {
    const stores: FullSessionStore[] = [memoryStore({ pruneIntervalMs: 0 }), open()]
    const results = []
    for (const store of stores) {
      const k = key()
      const data = {
        empty: {}, list: [], deep: { a: [{}, [], null, 1.5e300, -0.000001, 1e21, 'é\u2028"\\/\u0001'] }, big: 2 ** 53,
        'ünï "q"': '\ud83d\ude00', zero: 0, neg: -12, t: true, nul: null,
      }
      const withProto = JSON.parse(JSON.stringify(data).replace('{', '{"__proto__":{"x":1},'))
      await store.create(k, record(withProto), 8192)
      const steps: unknown[] = [await store.get(k, T0 + 1)]
      for (const [field, by] of [['f', 0.1], ['f', 0.2], ['g', 1e20], ['g', 1e20], ['h', -1e-7], ['zero', -5], ['big', 1], ['nul', 2]] as const) {
        steps.push(await store.increment(k, field, by, write(T0 + 2, 8192)))
      }
      steps.push(await store.update(k, { set: { list: [1, { b: [] }], later: undefined as never }, unset: ['t', 'missing'] }, write(T0 + 3, 8192)))
      steps.push(await store.get(k, T0 + 4))
      results.push(steps)
      await store.close()
    }
    expect(results[1]).toEqual(results[0]!)
    expect(Object.keys((results[1]![0] as { data: object }).data)).toContain('__proto__')
  })

  test('strings jsonb cannot hold (NUL, an unpaired surrogate) are refused with SessionValueError, nothing changed', async () => {
    const store = open()
    const k = key()
    expect(store.create(k, record({ name: 'a\u0000b' }), 1000)).rejects.toBeInstanceOf(SessionValueError)
    await store.create(k, record({ name: 'ok' }), 1000)
    for (const bad of ['a\u0000b', 'lone \ud800']) {
      expect(store.update(k, { set: { name: bad }, unset: [] }, write(T0 + 1))).rejects.toBeInstanceOf(SessionValueError)
    }
    expect(await store.get(k, T0 + 2)).toEqual(record({ name: 'ok' }))
    await store.close()
  })

  test('the size limit counts PostgreSQL\'s jsonb text, at create, update and increment, nothing changed', async () => {
    const store = open()
    const k = key()
    const data = { s: 'é'.repeat(10), n: 9 }
    const sql = admin()
    const [{ size }] = await sql`SELECT octet_length(${JSON.stringify(data)}::text::jsonb::text) AS size`
    expect(size).toBe(Buffer.byteLength(encodeData(data, 1e9)) + 3) // a space after each ':' (2) and ',' (1)
    const refused = await store.create(key(), record(data), size - 1).catch((e) => e)
    expect(refused).toBeInstanceOf(SessionTooLargeError)
    expect(refused.bytes).toBe(size)
    await store.create(k, record(data), size)
    const limit = { now: T0 + 1, expiresAt: T0 + HOUR, maxBytes: size }
    expect(store.increment(k, 'n', 1, limit)).rejects.toBeInstanceOf(SessionTooLargeError)
    expect(await store.increment(k, 'n', -1, limit)).toBe(8)
    expect(store.update(k, { set: { n: 10 }, unset: [] }, limit)).rejects.toBeInstanceOf(SessionTooLargeError)
    expect(store.update(k, { set: { x: 1 }, unset: [] }, limit)).rejects.toBeInstanceOf(SessionTooLargeError)
    expect(await store.update(k, { set: { x: 1 }, unset: ['s'] }, limit)).toEqual({ n: 8, x: 1 })
    expect((await store.get(k, T0 + 2))?.data).toEqual({ n: 8, x: 1 })
    await sql.close()
    await store.close()
  })

  test('an increment past the largest double is a SessionValueError, nothing changed', async () => {
    const store = open()
    const k = key()
    await store.create(k, record({ n: 1.7e308 }), 1000)
    expect(store.increment(k, 'n', 1.7e308, write(T0 + 1))).rejects.toBeInstanceOf(SessionValueError)
    expect(store.increment(k, 'n', Infinity, write(T0 + 1))).rejects.toBeInstanceOf(SessionValueError)
    expect((await store.get(k, T0 + 2))?.data).toEqual({ n: 1.7e308 })
    await store.close()
  })

  test('prune deletes in bounded batches, pointers past their grace too, and skips rows others hold', async () => {
    const table = `prune${n++}`
    const store = postgresStore({ url, table, pruneIntervalMs: 0 })
    for (let i = 0; i < 5; i++) await store.create(key(), record({ i }, T0, T0 + 10), 1000)
    const live = key()
    await store.create(live, record({ live: 1 }), 1000)
    await store.rename(live, key(), T0 + 1, T0 + 20) // a pointer that dies at T0 + 20
    expect(await store.stats(T0 + 30)).toMatchObject({ live: 1, expired: 6 })
    // Another transaction holds one expired row: the sweep skips it instead of waiting.
    const sql = admin()
    const [held] = await sql.unsafe(`SELECT key FROM ${table} WHERE expires_at <= ${T0 + 10} LIMIT 1`)
    let release!: () => void
    let locked!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const isLocked = new Promise<void>((resolve) => (locked = resolve))
    const holding = sql.begin(async (tx) => {
      await tx.unsafe(`SELECT 1 FROM ${table} WHERE key = $1 FOR UPDATE`, [held.key])
      locked()
      await released
    })
    await isLocked
    // The sweeps finish while the row is still held (waiting for it would never end before release).
    const sweeps = (async () => [await store.prune(T0 + 30, 2), await store.prune(T0 + 30, 2), await store.prune(T0 + 30, 2)])()
    try {
      expect(await Promise.race([sweeps, Bun.sleep(2000).then(() => 'waited for the lock')])).toEqual([2, 2, 1])
    } finally {
      release()
      await holding
    }
    expect(await store.prune(T0 + 30, 2)).toBe(1)
    expect(await store.stats(T0 + 30)).toMatchObject({ live: 1, expired: 0 })
    await sql.close()
    await store.close()
  })

  test('a call that waits on a lock fails after commandTimeoutMs (a clear code), and the store serves after', async () => {
    const table = `locked${n++}`
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
    const setup = postgresStore({ url: readOnlyUrl, pruneIntervalMs: 0 })
    const k = key()
    await setup.create(k, record({ views: 1 }), 1000)
    await setup.close()
    const sql = admin()
    const database = new URL(readOnlyUrl).pathname.slice(1)
    await sql.unsafe(`ALTER DATABASE "${database}" SET default_transaction_read_only = on`)
    const store = postgresStore({ url: readOnlyUrl, pruneIntervalMs: 0 })
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

  test('a second renewal inside the grace window deletes the first pointer: every old key is free once the record is gone', async () => {
    const store = open()
    const [first, second, third] = [key(), key(), key()]
    await store.create(first, record({ views: 1 }), 1000)
    await store.rename(first, second, T0 + 10, T0 + 5000)
    await store.rename(second, third, T0 + 20, T0 + 5000)
    await store.destroy(third)
    for (const k of [first, second]) {
      await store.create(k, record({ fresh: k }, T0 + 30), 1000)
      expect((await store.get(k, T0 + 40))?.data).toEqual({ fresh: k })
    }
    expect(await store.stats(T0 + 40)).toMatchObject({ live: 2, expired: 0 })
    await store.close()
  })

  test('a client passed in is used and left open by close()', async () => {
    const sql = admin()
    const store = postgresStore({ sql, table: `given${n++}`, pruneIntervalMs: 0 })
    await store.ping()
    await store.close()
    expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
    expect(store.ping()).rejects.toThrow(/closed/)
    await sql.close()
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
