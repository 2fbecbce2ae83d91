/**
 * The PostgreSQL store's writes under concurrency, against a real server: several pools on one
 * table, parallel increments sharing statements, writes of one turn sharing a commit, what happens
 * when one of them is refused, close() draining them, and pruning beside other transactions.
 */
import { describe, expect, test } from 'bun:test'
import { SessionTooLargeError, SessionValueError } from '../../src/errors'
import { postgresStore } from '../../src/stores/postgres'
import { HOUR, postgresTestDatabase, T0, write } from '../postgres-helpers'
import { key, record } from '../../src/testing'

const { ready, url, open, admin, table: newTable } = await postgresTestDatabase('postgres store write tests')

describe.skipIf(!ready)('postgres store writes', () => {
  test('two stores (two pools) incrementing one record in parallel count exactly', async () => {
    const table = newTable('shared')
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
    const table = newTable('hot')
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
    const name = newTable('closing')
    const store = open({ table: name })
    const k = key()
    await store.create(k, record({ views: 0 }), 1000)
    const pending = Array.from({ length: 50 }, () => store.increment(k, 'views', 1, write(T0 + 1)))
    await store.close()
    const results = await Promise.allSettled(pending)
    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
    const check = open({ table: name })
    expect((await check.get(k, T0 + 2))?.data).toEqual({ views: 50 })
    await check.close()
  })

  test('writes sent in one turn of the event loop share one commit (one transaction: one xmin)', async () => {
    const table = newTable('grouped')
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

  test('prune deletes in bounded batches, pointers past their grace too, and skips rows others hold', async () => {
    const table = newTable('prune')
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
})
