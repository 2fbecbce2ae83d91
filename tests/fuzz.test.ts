/**
 * Property-based fuzzing (fast-check) of what arrives from outside: the Cookie header, and the
 * stored records themselves. No 5xx, no crash, and no store write for requests that change nothing.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import fc from 'fast-check'
import { join } from 'node:path'
import { createApp } from '../src/app'
import { redisStore, sqliteStore, generateId, storeKey, sign, type FullSessionStore } from 'elysia-server-session'
import { RedisClient } from 'bun'
import { SECRET, cookieOf, handleWith, idOf, tempDir } from './helpers'
import { REDIS_URL, RUN_PREFIX, deleteKeys, redisReady } from '../packages/elysia-server-session/tests/redis-helpers'

const dir = tempDir('fuzz-')
const path = join(dir, 'fuzz.db')
const inner = sqliteStore({ path, pruneIntervalMs: 0 })
afterAll(() => inner.close())
const writes: string[] = []
const store: FullSessionStore = Object.assign(Object.create(inner), {
  ...Object.fromEntries(
    (['create', 'update', 'increment', 'touch', 'rename', 'destroy'] as const).map((name) => [
      name,
      (...args: unknown[]) => (writes.push(name), (inner[name] as Function)(...args)),
    ])
  ),
})
const quiet = { log: { warn: () => {}, error: () => {} }, flood: { threshold: 0 } }
const send = handleWith(createApp({ store, secrets: [SECRET], ...quiet }))

/** Header-safe text: Latin-1 without CR, LF or NUL (anything else a client could send). */
const headerText = fc
  .string({ unit: 'binary', maxLength: 300 })
  .map((s) => s.replace(/[^\x01-\xff]|[\r\n]/g, ''))
const validId = fc.constant(null).map(() => generateId())
const cookieValue = fc.oneof(
  headerText,
  validId.map((id) => sign(id, SECRET)), // signed by us, never issued
  fc.tuple(validId, headerText).map(([id, sig]) => `${id}.${sig}`),
  fc.tuple(validId, fc.constantFrom('%', '%E0%A4%A', '%00', '{', '[1]', '"', ';', '=')).map(([id, bad]) => encodeURIComponent(sign(id, SECRET)) + bad),
  fc.constantFrom('{"__proto__":{"x":1}}', '[]', 'null', '1e400', '')
)
const cookieHeader = fc.oneof(
  headerText,
  cookieValue.map((v) => `id=${v}`),
  fc.array(fc.tuple(fc.constantFrom('id', 'ID', ' id', 'id ', '__Host-id', 'other', '__proto__', 'constructor'), cookieValue), { maxLength: 5 }).map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('; '))
)

describe('fuzzing the Cookie header', () => {
  test('read-only requests never fail and never write', async () => {
    await fc.assert(
      fc.asyncProperty(cookieHeader, async (cookie) => {
        writes.length = 0
        for (const route of ['/healthz', '/readyz']) {
          const response = await send(route, { headers: { cookie } })
          expect(response.status).toBe(200)
        }
        const logout = await send('/logout', { method: 'POST', headers: { cookie } })
        expect(logout.status).toBe(200)
        expect(writes).toEqual([])
      }),
      { numRuns: 400 }
    )
  })

  test('the counter answers 200 with a count for any cookie, and never adopts the given ID', async () => {
    await fc.assert(
      fc.asyncProperty(cookieHeader, async (cookie) => {
        const response = await send('/', { headers: { cookie } })
        expect(response.status).toBe(200)
        expect(await response.text()).toBe('Welcome to this page for the first time!')
        const issued = idOf(cookieOf(response)!)
        expect(cookie).not.toContain(issued)
      }),
      { numRuns: 400 }
    )
  })
})

describe('fuzzing stored records', () => {
  test('whatever the data column holds, the counter answers 200 and continues or starts over', async () => {
    const id = generateId()
    const cookie = `id=${encodeURIComponent(sign(id, SECRET))}`
    const key = storeKey(id)
    const db = new Database(path)
    const stored = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.record({ views: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null), fc.array(fc.integer())) }).map((v) => JSON.stringify(v)),
      headerText
    )
    await fc.assert(
      fc.asyncProperty(stored, async (data) => {
        db.run('DELETE FROM sessions WHERE key = ?1', [key])
        db.run('INSERT INTO sessions (key, data, created_at, last_seen_at, expires_at) VALUES (?1, ?2, ?3, ?3, ?4)', [key, data, Date.now(), Date.now() + 60_000])
        const response = await send('/', { headers: { cookie } })
        expect(response.status).toBe(200)
        const text = await response.text()
        let views: unknown
        try {
          views = (JSON.parse(data) as { views?: unknown })?.views
        } catch {}
        const continues = Number.isSafeInteger(views) && (views as number) > 0 && typeof JSON.parse(data) === 'object' && !Array.isArray(JSON.parse(data))
        expect(text).toBe(continues ? `You visited this page ${(views as number) + 1} times` : 'Welcome to this page for the first time!')
      }),
      { numRuns: 300 }
    )
    db.close()
  })
})

describe('fuzzing stored records on Redis', async () => {
  const ready = await redisReady('fuzzing stored Redis records')
  test.skipIf(!ready)('whatever a session hash holds, the counter answers 200 and continues or starts over', async () => {
    const prefix = `${RUN_PREFIX}fuzz:`
    const redis = redisStore({ url: REDIS_URL, prefix })
    const send = handleWith(createApp({ store: redis, secrets: [SECRET], ...quiet }))
    const client = new RedisClient(REDIS_URL)
    const id = generateId()
    const cookie = `id=${encodeURIComponent(sign(id, SECRET))}`
    const hashKey = prefix + storeKey(id)
    const field = fc.oneof(fc.constantFrom('"views"', '_e', '_c', '_l', '_r', '_s', '_m', '"x"'), headerText)
    const fieldValue = fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), headerText, fc.integer().map(String))
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(field, fieldValue), { maxLength: 6 }), async (fields) => {
        const now = Date.now()
        await client.send('DEL', [hashKey])
        // A healthy record first, then the fuzzed fields written over it.
        const base = ['_c', String(now), '_l', String(now), '_e', String(now + 60_000), '_r', String(now), '"views"', '4']
        const flat = fields.filter(([f]) => f.length > 0).flatMap(([f, v]) => [f, v])
        await client.send('HSET', [hashKey, ...base, ...flat])
        await client.send('PEXPIRE', [hashKey, '60000'])
        const response = await send('/', { headers: { cookie } })
        expect(response.status).toBe(200)
        expect(await response.text()).toMatch(/^(Welcome to this page for the first time!|You visited this page \d+ times)$/)
      }),
      { numRuns: 200 }
    )
    client.close()
    await redis.close()
    await deleteKeys(prefix)
  }, 60_000)
})
