import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { readFileSync, readdirSync } from 'node:fs'
import { createHmac } from 'node:crypto'
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { session, sqliteStore, type SessionStore } from '../src'
import { generateId, storeKey } from '../src/ids'
import { sign } from '../src/signing'
import { OLD_SECRET, SECRET, client, cookieOf, handleWith, recordingWrites, tempDir } from './helpers'

type Data = { views: number; name: string; big: string }
const dir = tempDir()
let n = 0

/** An app on a fresh SQLite file with a controllable clock and a write counter. */
type SetupOptions = { secrets?: string[]; idleTimeout?: number; absoluteTimeout?: number; touchInterval?: number; maxBytes?: number; renewalGrace?: number; renewAfter?: number }
const clock = { now: 1_700_000_000_000 }

function setup({ path = join(dir, `plugin${n++}.db`), ...options }: SetupOptions & { path?: string } = {}) {
  const inner = sqliteStore({ path, pruneIntervalMs: 0 })
  const writes: string[] = []
  const store = recordingWrites(inner, writes)
  const app = new Elysia()
    .get('/outside', () => 'no session here')
    .use(session<Data>({ store, secrets: options.secrets ?? [SECRET], now: () => clock.now, ...options }))
    .get('/read', ({ session }) => ({ views: session.get('views') ?? null, id: session.isNew ? null : 'stored' }))
    .get('/name', ({ session }) => session.get('name') ?? '')
    .get('/inc', async ({ session }) => String(await session.increment('views')))
    .get('/set-name', ({ session, query }) => {
      session.set('name', query.v ?? '')
      return 'ok'
    })
    .get('/big', ({ session }) => {
      session.set('big', 'x'.repeat(5000))
      return 'should not be sent'
    })
    .get('/regen', async ({ session }) => {
      await session.regenerate()
      return 'ok'
    })
    .get('/destroy', async ({ session }) => {
      await session.destroy()
      return 'bye'
    })
  const db = () => new Database(path, { readonly: true })
  const rows = () => {
    const d = db()
    const count = (d.query('SELECT count(*) AS n FROM sessions').get() as { n: number }).n
    d.close()
    return count
  }
  return { app, clock, writes, path, rows, store: inner, send: handleWith(app) }
}

describe('session plugin over real SQLite files', () => {
  test('the cookie is <id>.<HMAC-SHA256 base64 without padding>, sent as is, with safe attributes', async () => {
    const { send } = setup()
    const response = await send('/inc', {})
    expect(await response.text()).toBe('1')
    const header = response.headers.getSetCookie()[0]!
    const [pair, ...attributes] = header.split('; ')
    const [name, encoded] = pair!.split('=') as [string, string]
    expect(name).toBe('id')
    // Cookie-safe as it is (RFC 6265 cookie-octets): no escapes to write or to decode.
    expect(encoded).toMatch(/^[A-Za-z0-9_\-.+/]+$/)
    const [id, signature] = encoded.split('.') as [string, string]
    expect(id).toMatch(/^[0-9a-z]{9}[A-Za-z0-9_-]{43}$/)
    expect(signature).toBe(createHmac('sha256', SECRET).update(id).digest('base64').replace(/=+$/, ''))
    expect(attributes).toEqual(expect.arrayContaining(['Path=/', 'HttpOnly', 'SameSite=Lax', 'Max-Age=1800']))
    expect(attributes.some((a) => a.startsWith('Secure'))).toBe(false)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(response.headers.get('vary')).toBe('Cookie')
  })

  test('a URL-encoded cookie (as earlier versions and express-session send it) opens the same session', async () => {
    const { send } = setup()
    const first = await send('/inc', {})
    const value = first.headers.getSetCookie()[0]!.split(';')[0]!.slice('id='.length)
    const encoded = value.replace(/./g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`) // every character escaped
    expect(await (await send('/inc', { headers: { cookie: `id=${encoded}` } })).text()).toBe('2')
    expect(await (await send('/inc', { headers: { cookie: `id=${value}` } })).text()).toBe('3')
  })

  test('a session stored under an earlier version\'s 43-character ID opens and counts on', async () => {
    const { send, store } = setup()
    const legacy = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
    const at = clock.now
    await store.create(storeKey(legacy), { data: { views: 41 }, createdAt: at, lastSeenAt: at, expiresAt: at + 60_000, renewedAt: at }, 4096)
    const response = await send('/inc', { headers: { cookie: `id=${sign(legacy, SECRET)}` } })
    expect(await response.text()).toBe('42')
    expect(await store.get(storeKey(legacy), at)).toMatchObject({ data: { views: 42 } })
  })

  test('over https the cookie is Secure (secure: auto)', async () => {
    const { app } = setup()
    const response = await app.handle(new Request('https://localhost/inc'))
    expect(response.headers.getSetCookie()[0]).toContain('Secure')
  })

  test('lazy creation: no record and no cookie until the session holds data', async () => {
    const { send, rows, writes } = setup()
    for (const path of ['/read', '/outside', '/read']) {
      const response = await send(path, {})
      expect(response.headers.getSetCookie()).toEqual([])
      expect(response.headers.get('cache-control')).toBe(path === '/outside' ? null : 'private')
    }
    expect(rows()).toBe(0)
    expect(writes).toEqual([])
  })

  test('a cookie signed by an older secret is accepted and re-signed with the first', async () => {
    const before = setup({ secrets: [OLD_SECRET] })
    const cookie = cookieOf(await before.send('/inc', {}))!
    await before.store.close()
    const after = setup({ path: before.path, secrets: [SECRET, OLD_SECRET] })
    const response = await after.send('/inc', { headers: { cookie } })
    expect(await response.text()).toBe('2')
    const id = decodeURIComponent(cookie.split('=')[1]!).split('.')[0]!
    expect(decodeURIComponent(cookieOf(response)!.split('=')[1]!)).toBe(sign(id, SECRET))
    // A read-only request with the old signature is re-signed too.
    const read = await after.send('/read', { headers: { cookie } })
    expect(decodeURIComponent(cookieOf(read)!.split('=')[1]!)).toBe(sign(id, SECRET))
  })

  test('a tampered signature gets a fresh session, never an error', async () => {
    const { send } = setup()
    const cookie = cookieOf(await send('/inc', {}))!
    const tampered = cookie.slice(0, -3) + (cookie.endsWith('AAA') ? 'BBB' : 'AAA')
    for (const bad of [tampered, 'id=garbage', 'id=%E0%A4%A', 'id={"json":1}', 'id=' + 'x'.repeat(5000)]) {
      const response = await send('/inc', { headers: { cookie: bad } })
      expect(response.status).toBe(200)
      expect(await response.text()).toBe('1')
      expect(cookieOf(response)).not.toBe(cookie)
    }
  })

  test('a validly signed ID the server never issued is not adopted', async () => {
    const { send, path } = setup()
    const forged = generateId()
    const response = await send('/inc', { headers: { cookie: `id=${encodeURIComponent(sign(forged, SECRET))}` } })
    expect(await response.text()).toBe('1')
    const issued = decodeURIComponent(cookieOf(response)!.split('=')[1]!).split('.')[0]
    expect(issued).not.toBe(forged)
    const db = new Database(path, { readonly: true })
    expect(db.query('SELECT count(*) AS n FROM sessions WHERE key = ?').get(storeKey(forged))).toEqual({ n: 0 })
    db.close()
  })

  test('the raw ID never reaches the database files', async () => {
    const { send, path, store } = setup()
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      const cookie = cookieOf(await send('/inc', {}))!
      ids.push(decodeURIComponent(cookie.split('=')[1]!).split('.')[0]!)
      await send('/inc', { headers: { cookie } })
    }
    const files = readdirSync(dir).filter((f) => f.startsWith(path.split('/').pop()!))
    const bytes = files.map((f) => readFileSync(join(dir, f)).toString('latin1')).join('')
    for (const id of ids) {
      expect(bytes).not.toContain(id)
      expect(bytes).toContain(storeKey(id))
    }
    await store.close()
  })

  test('idle timeout: a session unused for longer is gone', async () => {
    const { send, clock } = setup({ idleTimeout: 60, absoluteTimeout: 3600 })
    const c = client(send)
    expect(await (await c.request('/inc')).text()).toBe('1')
    clock.now += 59_000
    expect(await (await c.request('/inc')).text()).toBe('2')
    clock.now += 59_000 // active sessions slide
    expect(await (await c.request('/inc')).text()).toBe('3')
    clock.now += 60_000
    expect(await (await c.request('/inc')).text()).toBe('1')
  })

  test('absolute timeout: a session dies however active it is, and Max-Age never outlives it', async () => {
    const { send, clock } = setup({ idleTimeout: 60, absoluteTimeout: 150 })
    const c = client(send)
    await c.request('/inc')
    clock.now += 50_000
    await c.request('/inc')
    clock.now += 50_000
    const late = await c.request('/inc')
    expect(await late.text()).toBe('3')
    expect(late.headers.getSetCookie()[0]).toContain('Max-Age=50')
    clock.now += 50_000
    expect(await (await c.request('/inc')).text()).toBe('1')
  })

  test('touch throttling: read-only requests write at most once per interval', async () => {
    const { send, clock, writes } = setup({ idleTimeout: 600, touchInterval: 60 })
    const c = client(send)
    await c.request('/inc')
    writes.length = 0
    for (let i = 0; i < 10; i++) {
      clock.now += 10_000
      const response = await c.request('/read')
      expect(await response.json()).toEqual({ views: 1, id: 'stored' })
    }
    // 100 s of reads with a 60 s interval: one touch, at the 60 s mark, with a fresh cookie.
    expect(writes).toEqual(['touch'])
    // At +650 s: dead if idle counted from creation (+0), alive counted from the touch (+60 s).
    clock.now += 550_000
    expect(await (await c.request('/read')).json()).toEqual({ views: 1, id: 'stored' })
  })

  test('writes inside the refresh interval keep the deadline: no Set-Cookie, no index update', async () => {
    const { send, path } = setup({ idleTimeout: 600, touchInterval: 60 })
    const c = client(send)
    const first = await c.request('/inc')
    expect(first.headers.getSetCookie()[0]).toContain('Max-Age=600')
    const expiresAt = () => {
      const db = new Database(path, { readonly: true })
      const row = db.query('SELECT expires_at AS e FROM sessions').get() as { e: number }
      db.close()
      return row.e
    }
    const created = expiresAt()
    clock.now += 30_000
    const quiet = await c.request('/inc')
    expect(await quiet.text()).toBe('2')
    expect(quiet.headers.getSetCookie()).toEqual([])
    expect(quiet.headers.get('cache-control')).toBe('private')
    expect(expiresAt()).toBe(created)
    clock.now += 30_000 // 60 s after the last move: the deadline moves, and the cookie with it
    const moved = await c.request('/inc')
    expect(await moved.text()).toBe('3')
    expect(moved.headers.getSetCookie()[0]).toContain('Max-Age=600')
    expect(expiresAt()).toBe(created + 60_000)
  })

  test('set writes only changed keys; different keys from parallel requests both persist', async () => {
    const { send } = setup()
    const c = client(send)
    await c.request('/inc')
    const cookie = c.cookie!
    await Promise.all([send('/inc', { headers: { cookie } }), send('/set-name?v=zoe', { headers: { cookie } })])
    expect(await (await c.request('/read')).json()).toEqual({ views: 2, id: 'stored' })
    expect(await (await c.request('/name')).text()).toBe('zoe')
  })

  test('regenerate keeps the data under a new ID; the old ID opens nothing at once, grace or not', async () => {
    const { send, rows } = setup({ renewalGrace: 30 })
    const c = client(send)
    await c.request('/inc')
    await c.request('/inc')
    const before = c.cookie!
    await c.request('/regen')
    expect(c.cookie).not.toBe(before)
    expect(rows()).toBe(1) // no pointer row left at the old key
    expect(await (await c.request('/inc')).text()).toBe('3')
    // The old ID is no session: a request with it starts its own, and never reaches the record.
    const late = await send('/inc', { headers: { cookie: before } })
    expect(await late.text()).toBe('1')
    expect(cookieOf(late)).not.toBe(c.cookie)
    expect(await (await c.request('/inc')).text()).toBe('4')
  })

  test('automatic renewal leaves the old ID a grace window for requests in flight, never a cookie', async () => {
    const { send } = setup({ renewAfter: 600, renewalGrace: 30 })
    const c = client(send)
    await c.request('/inc')
    const before = c.cookie!
    clock.now += 600_000
    expect(await (await c.request('/inc')).text()).toBe('2')
    expect(c.cookie).not.toBe(before)
    const late = await send('/inc', { headers: { cookie: before } })
    expect(await late.text()).toBe('3')
    expect(late.headers.getSetCookie()).toEqual([])
    clock.now += 31_000
    expect(await (await send('/inc', { headers: { cookie: before } })).text()).toBe('1')
    expect(await (await c.request('/inc')).text()).toBe('4')
  })

  test('automatic renewal: an ID older than renewAfter is replaced, the data kept', async () => {
    const { send } = setup({ renewAfter: 600, renewalGrace: 5 })
    const c = client(send)
    await c.request('/inc')
    const first = c.cookie!
    clock.now += 599_000
    await c.request('/inc')
    expect(c.cookie).toBe(first)
    clock.now += 1_000
    const renewed = await c.request('/inc')
    expect(await renewed.text()).toBe('3')
    expect(c.cookie).not.toBe(first)
    clock.now += 6_000
    expect(await (await send('/inc', { headers: { cookie: first } })).text()).toBe('1')
    expect(await (await c.request('/inc')).text()).toBe('4')
  })

  test('destroy deletes the record and clears the cookie', async () => {
    const { send, rows } = setup()
    const c = client(send)
    await c.request('/inc')
    const cookie = c.cookie!
    const response = await c.request('/destroy')
    expect(response.headers.getSetCookie()[0]).toMatch(/^id=; Max-Age=0; Path=\//)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(rows()).toBe(0)
    expect(await (await send('/inc', { headers: { cookie } })).text()).toBe('1')
  })

  test('data over the size limit is a clear error at save, nothing stored, no cookie', async () => {
    const { send, rows } = setup({ maxBytes: 1000 })
    const response = await send('/big', {})
    expect(response.status).toBe(500)
    expect(await response.text()).toContain('too large')
    expect(response.headers.getSetCookie()).toEqual([])
    expect(rows()).toBe(0)
  })

  test('two plugin instances with different cookie names do not collide', async () => {
    const path = join(dir, `two${n++}.db`)
    const store = sqliteStore({ path, pruneIntervalMs: 0 })
    const a = new Elysia().use(session<Data>({ store, secrets: [SECRET], cookieName: 'a' })).get('/a', async ({ session }) => String(await session.increment('views')))
    const b = new Elysia().use(session<Data>({ store, secrets: [SECRET], cookieName: 'b' })).get('/b', async ({ session }) => String(await session.increment('views')))
    const app = new Elysia().use(a).use(b)
    expect(cookieOf(await app.handle(new Request('http://localhost/a')))).toStartWith('a=')
    expect(cookieOf(await app.handle(new Request('http://localhost/b')))).toStartWith('b=')
    await store.close()
  })
})

describe('store faults', () => {
  const appWith = (store: SessionStore, errors: string[]) =>
    new Elysia()
      .use(session<Data>({ store, secrets: [SECRET], logger: { warn: () => {}, error: (m) => errors.push(m) } }))
      .get('/inc', async ({ session }) => String(await session.increment('views')))
      .get('/set-name', ({ session }) => (session.set('name', 'x'), 'saved'))
  const broken = (store: SessionStore, method: keyof SessionStore): SessionStore =>
    Object.assign(Object.create(store), { [method]: async () => { throw new Error('disk on fire') } })

  test('a store that throws on save: 503, no Set-Cookie, one log line', async () => {
    const errors: string[] = []
    const store = sqliteStore({ path: join(dir, `fault${n++}.db`), pruneIntervalMs: 0 })
    const response = await handleWith(appWith(broken(store, 'create'), errors))('/inc', {})
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('1')
    expect(await response.text()).toContain('nothing was saved')
    expect(response.headers.getSetCookie()).toEqual([])
    expect(errors).toEqual(['session store create failed: Error: disk on fire'])
    await store.close()
  })

  for (const [method, path] of [['get', '/inc'], ['increment', '/inc'], ['update', '/set-name']] as const) {
    test(`a store that throws on ${method}: 503, no Set-Cookie, the stored count intact`, async () => {
      const store = sqliteStore({ path: join(dir, `fault${n++}.db`), pruneIntervalMs: 0 })
      const healthy = handleWith(appWith(store, []))
      const cookie = cookieOf(await healthy('/inc', {}))!
      const response = await handleWith(appWith(broken(store, method), []))(path, { headers: { cookie } })
      expect(response.status).toBe(503)
      expect(response.headers.getSetCookie()).toEqual([])
      expect(await (await healthy('/inc', { headers: { cookie } })).text()).toBe('2')
      await store.close()
    })
  }
})
