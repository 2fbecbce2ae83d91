/**
 * The PostgreSQL store against a real server, on a database of this file's own: the shared
 * conformance suite, then the schema and its migrations, and data as PostgreSQL's jsonb keeps it.
 * Writes under concurrency: postgres-writes.test.ts; faults: postgres-faults.test.ts.
 */
import { describe, expect, test } from 'bun:test'
import { SessionTooLargeError, SessionValueError } from '../../src/errors'
import { generateId, storeKey } from '../../src/ids'
import type { FullSessionStore } from '../../src/capabilities'
import { memoryStore } from '../../src/stores/memory'
import { postgresStore } from '../../src/stores/postgres'
import { POSTGRES_SCHEMA_VERSION } from '../../src/stores/postgres-schema'
import { encodeData } from '../../src/stores/records'
import { HOUR, postgresTestDatabase, T0, write } from '../postgres-helpers'
import { key, record, storeConformance } from '../../src/testing'

const { ready, url, open, admin, table: newTable } = await postgresTestDatabase('postgres store tests')
if (ready) storeConformance('postgres', () => open())

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

  test('a version 1 table (before remember me) is migrated: its sessions stay, not remembered, and can become so', async () => {
    const table = newTable('v1')
    const first = postgresStore({ url, table, pruneIntervalMs: 0 })
    const k = key()
    await first.create(k, record({ views: 3 }, T0, T0 + HOUR, { subject: 'ida', userAgent: 'Firefox' }), 1000)
    await first.close()
    const sql = admin()
    await sql.unsafe(`ALTER TABLE ${table} DROP COLUMN remembered`)
    await sql.unsafe(`UPDATE ${table}_schema SET version = 1`)
    const store = postgresStore({ url, table, pruneIntervalMs: 0 })
    expect((await store.get(k, T0 + 1))?.data).toEqual({ views: 3 })
    expect(POSTGRES_SCHEMA_VERSION).toBe(2)
    expect(await sql.unsafe(`SELECT version FROM ${table}_schema`)).toEqual([{ version: 2 }])
    expect((await store.get(k, T0 + 1))?.remembered).toBeUndefined()
    expect((await store.listSubject('ida', T0 + 1)).map((s) => s.remembered)).toEqual([false])
    await store.update(k, { set: {}, unset: [], remembered: true }, write(T0 + 2))
    expect((await store.get(k, T0 + 3))?.remembered).toBe(true)
    expect((await store.stats(T0 + 3)).remembered).toBe(1)
    await store.close()
    await sql.close()
  })

  test('eight instances starting at once on a new table migrate it once, and all serve', async () => {
    const table = newTable('fresh')
    const stores = Array.from({ length: 8 }, () => postgresStore({ url, table, pruneIntervalMs: 0, poolSize: 2 }))
    await Promise.all(stores.map((store) => store.ping())) // each migrates first, at the same moment
    const k = key()
    await stores[0]!.create(k, record({ views: 0 }), 1000)
    const counts = await Promise.all(stores.map((store) => store.increment(k, 'views', 1, write(T0 + 1))))
    expect(counts.toSorted()).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    await Promise.all(stores.map((store) => store.close()))
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
    const store = postgresStore({ sql, table: newTable('given'), pruneIntervalMs: 0 })
    await store.ping()
    await store.close()
    expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
    expect(store.ping()).rejects.toThrow(/closed/)
    await sql.close()
  })
})
