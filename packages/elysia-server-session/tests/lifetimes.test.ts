/**
 * Per-session lifetimes over real HTTP on every store (memory, SQLite, Redis, PostgreSQL), with an injected clock: "remember me" gives
 * a session the long lifetime, enforced on the server and kept across `regenerate()` and automatic
 * renewal; a session that is not remembered dies by the standard timeouts and, with
 * `browserSessionCookie`, gets a cookie without Max-Age. Devices show who is remembered, the
 * User-Agent as of the last renewal, and "log out other devices" spares the current session only.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { memoryStore, redisStore, session, sqliteStore, subjectSessions, type SessionOptions, type FullSessionStore } from '../src'
import { SECRET, client, handleWith, tempDir } from './helpers'
import { REDIS_URL, RUN_PREFIX, deleteKeys, redisReady } from './redis-helpers'
import { postgresTestDatabase } from './postgres-helpers'

const dir = tempDir('lifetimes-')
const redisOk = await redisReady('lifetime tests on Redis')
afterAll(() => deleteKeys(`${RUN_PREFIX}lifetimes:`))
const DAY = 86_400

const postgres = await postgresTestDatabase('lifetime tests on PostgreSQL')
const stores: [string, () => FullSessionStore, boolean][] = [
  ['memory', () => memoryStore({ pruneIntervalMs: 0 }), true],
  ['sqlite', () => sqliteStore({ path: join(dir, `lifetimes-${Date.now()}.db`), pruneIntervalMs: 0 }), true],
  ['redis', () => redisStore({ url: REDIS_URL, prefix: `${RUN_PREFIX}lifetimes:${Date.now()}:` }), redisOk],
  ['postgres', () => postgres.open(), postgres.ready],
]

function lifetimeApp(store: FullSessionStore, clock: { now: number }, options: Partial<SessionOptions> = {}) {
  const devices = subjectSessions(store, () => clock.now)
  return new Elysia()
    .use(session<{ user: string }>({ store, secrets: [SECRET], now: () => clock.now, idleTimeout: 1800, absoluteTimeout: DAY, ...options }))
    .post('/login', async ({ session, query }) => {
      await session.regenerate()
      session.set('user', query.user ?? 'alice')
      session.setSubject(query.user ?? 'alice')
      session.rememberMe(query.remember === '1')
      return 'in'
    })
    .post('/forget', ({ session }) => (session.rememberMe(false), 'forgotten'))
    .post('/regenerate', async ({ session }) => (await session.regenerate(), 'new ID'))
    .get('/', ({ session }) => `${session.get('user') ?? 'nobody'} ${session.remembered}`)
    .get('/devices', async ({ session }) => ({ me: session.handle, devices: await devices.list(session.subject!) }))
    .post('/others', async ({ session }) => String(await devices.revokeOthers(session.subject!, session.handle)))
}
const maxAgeOf = (response: Response) => /Max-Age=(\d+)/.exec(response.headers.getSetCookie()[0] ?? '')?.[1]

for (const [name, open, available] of stores) {
  describe.skipIf(!available)(`lifetimes on the ${name} store`, () => {
    test('remember me outlives the standard timeouts, across regenerate() and renewal; others die by them', async () => {
      const store = open()
      const clock = { now: 1_700_000_000_000 }
      const send = handleWith(lifetimeApp(store, clock, { renewAfter: 3600 }))
      const remembered = client(send)
      const plain = client(send)
      const login = await remembered.request('/login?remember=1', { method: 'POST' })
      expect(maxAgeOf(login)).toBe(String(14 * DAY))
      expect(maxAgeOf(await plain.request('/login', { method: 'POST' }))).toBe('1800')
      expect(await (await remembered.request('/')).text()).toBe('alice true')
      // Two hours later: the plain session's idle timeout has passed; the remembered one is renewed.
      clock.now += 2 * 3600_000
      const before = remembered.cookie
      const renewed = await remembered.request('/')
      expect(remembered.cookie).not.toBe(before)
      expect(await renewed.text()).toBe('alice true')
      expect(maxAgeOf(renewed)).toBe(String(14 * DAY - 7200)) // a new ID, the same deadline
      expect(await (await plain.request('/')).text()).toBe('nobody false')
      // regenerate() keeps it remembered: a new ID, the long Max-Age.
      const before2 = remembered.cookie
      clock.now += 60_000
      const regenerated = await remembered.request('/regenerate', { method: 'POST' })
      expect(remembered.cookie).not.toBe(before2)
      expect(Number(maxAgeOf(regenerated))).toBeGreaterThan(13 * DAY)
      expect(await (await remembered.request('/')).text()).toBe('alice true')
      // A second login without remember me: rememberMe(false); with it again, ten days on it still lives.
      await remembered.request('/login', { method: 'POST' })
      expect(await (await remembered.request('/')).text()).toBe('alice false')
      await remembered.request('/login?remember=1', { method: 'POST' })
      clock.now += 10 * DAY * 1000
      expect(await (await remembered.request('/')).text()).toBe('alice true')
      // The absolute long timeout (30 days) ends it, however active.
      for (let day = 0; day < 21; day++) {
        clock.now += DAY * 1000
        await remembered.request('/')
      }
      expect(await (await remembered.request('/')).text()).toBe('nobody false')
      await store.close()
    })

    test('rememberMe(false) brings back the standard lifetime at once', async () => {
      const store = open()
      const clock = { now: 1_700_000_000_000 }
      const browser = client(handleWith(lifetimeApp(store, clock)))
      await browser.request('/login?remember=1', { method: 'POST' })
      clock.now += 60_000
      expect(maxAgeOf(await browser.request('/forget', { method: 'POST' }))).toBe('1800')
      clock.now += 1801_000
      expect(await (await browser.request('/')).text()).toBe('nobody false')
      await store.close()
    })

    test('devices: remembered shown, User-Agent as of the last renewal, log out other devices spares this one', async () => {
      const store = open()
      const clock = { now: 1_700_000_000_000 }
      const send = handleWith(lifetimeApp(store, clock))
      const as = (ua: string) => client((path, init) => send(path, { ...init, headers: { ...Object.fromEntries(new Headers(init.headers)), 'user-agent': ua } }))
      const [laptop, phone, other] = [as('Laptop/1'), as('Phone/1'), as('Other/1')]
      await laptop.request('/login?remember=1', { method: 'POST' })
      await phone.request('/login', { method: 'POST' })
      await other.request('/login?user=bob', { method: 'POST' })
      // The laptop's browser updates; its next login (a renewal) records the new User-Agent.
      const updated = as('Laptop/2')
      updated.cookie = laptop.cookie
      clock.now += 120_000
      await updated.request('/login?remember=1', { method: 'POST' })
      const { me, devices } = (await (await updated.request('/devices')).json()) as {
        me: string
        devices: { key: string; userAgent: string; remembered: boolean; lastSeenAt: number }[]
      }
      expect(devices.map((d) => [d.userAgent, d.remembered, d.key === me])).toEqual([
        ['Laptop/2', true, true],
        ['Phone/1', false, false],
      ])
      expect(devices[0]!.lastSeenAt).toBe(clock.now)
      expect(await (await updated.request('/others', { method: 'POST' })).text()).toBe('1')
      expect(await (await phone.request('/')).text()).toBe('nobody false')
      expect(await (await updated.request('/')).text()).toBe('alice true')
      expect(await (await other.request('/')).text()).toBe('bob false')
      await store.close()
    })
  })
}

describe('browserSessionCookie', () => {
  test('a session not remembered gets a cookie without Max-Age or Expires; a remembered one keeps Max-Age', async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const clock = { now: 1_700_000_000_000 }
    const send = handleWith(lifetimeApp(store, clock, { browserSessionCookie: true }))
    const plain = (await send('/login', { method: 'POST' })).headers.getSetCookie()[0]!
    expect(plain).not.toMatch(/Max-Age|Expires/i)
    expect(plain).toMatch(/HttpOnly/)
    expect(maxAgeOf(await send('/login?remember=1', { method: 'POST' }))).toBe(String(14 * DAY))
    // The server-side idle timeout still applies to the browser-session cookie's session.
    const browser = client(send)
    await browser.request('/login', { method: 'POST' })
    clock.now += 1801_000
    expect(await (await browser.request('/')).text()).toBe('nobody false')
    await store.close()
  })

  test('options: the long lifetime may not be shorter than the standard one; bad values are named', () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    expect(() => session({ store, secrets: [SECRET], rememberMe: { idleTimeout: 60 } })).toThrow(/rememberMe.idleTimeout/)
    expect(() => session({ store, secrets: [SECRET], rememberMe: { absoluteTimeout: Number.NaN } })).toThrow(/rememberMe.absoluteTimeout/)
    expect(() => session({ store, secrets: [SECRET], browserSessionCookie: 'yes' as never })).toThrow(/browserSessionCookie/)
    // A standard lifetime longer than the default long one: the long one follows it.
    expect(() => session({ store, secrets: [SECRET], idleTimeout: 60 * DAY, absoluteTimeout: 90 * DAY })).not.toThrow()
    store.close()
  })
})
