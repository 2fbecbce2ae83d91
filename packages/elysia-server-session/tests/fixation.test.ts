/**
 * Session fixation and renewal on every store, over real HTTP: an ID planted in a victim's browser
 * before login opens nothing once the victim logs in, and an old ID inside the renewal grace window
 * never leads to a live ID.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { memoryStore, redisStore, session, sqliteStore, storeKey, subjectSessions, type FullSessionStore } from '../src'
import { SECRET, client, cookieOf, handleWith, idOf, tempDir } from './helpers'
import { REDIS_URL, RUN_PREFIX, deleteKeys, redisReady } from './redis-helpers'

type Data = { views: number; userId: string; note: string }
type Who = { userId: string | null; note: string | null; subject: string | null; stored: boolean }
const dir = tempDir('fixation-')
const redisOk = await redisReady('fixation tests on Redis')
afterAll(() => deleteKeys(`${RUN_PREFIX}fixation:`))
let n = 0

const stores: [string, () => FullSessionStore, boolean][] = [
  ['memory', () => memoryStore({ pruneIntervalMs: 0 }), true],
  ['sqlite', () => sqliteStore({ path: join(dir, `s${n++}.db`), pruneIntervalMs: 0 }), true],
  ['redis', () => redisStore({ url: REDIS_URL, prefix: `${RUN_PREFIX}fixation:${n++}:` }), redisOk],
]

function setup(store: FullSessionStore) {
  const clock = { now: 1_700_000_000_000 }
  const app = new Elysia()
    .use(session<Data>({ store, secrets: [SECRET], now: () => clock.now, renewAfter: 600, renewalGrace: 30 }))
    .get('/', async ({ session }) => String(await session.increment('views')))
    .get('/whoami', ({ session }): Who => ({
      userId: session.get('userId') ?? null,
      note: session.get('note') ?? null,
      subject: session.subject ?? null,
      stored: !session.isNew,
    }))
    .post('/login', async ({ session, query }) => {
      await session.regenerate()
      session.set('userId', query.user!)
      session.setSubject(query.user)
      return 'welcome'
    })
    .post('/note', ({ session, query }) => (session.set('note', query.v!), 'noted'))
    .post('/renew-note', async ({ session, query }) => {
      await session.regenerate()
      session.set('note', query.v!)
      return 'renewed'
    })
    .post('/bind', ({ session, query }) => (session.setSubject(query.user), 'bound'))
    .post('/remember', ({ session }) => (session.rememberMe(true), 'remembered'))
    .post('/logout', async ({ session }) => (await session.destroy(), 'bye'))
  const send = handleWith(app)
  const whoami = async (cookie: string) => (await (await send('/whoami', { headers: { cookie } })).json()) as Who
  const post = (path: string, cookie: string) => send(path, { method: 'POST', headers: { cookie } })
  return { clock, send, whoami, post }
}

for (const [name, open, available] of stores) {
  describe.skipIf(!available)(`fixation on the ${name} store`, () => {
    test('an ID planted before login opens nothing once the victim logs in: no read, no write, no new ID', async () => {
      const store = open()
      const { send, whoami, post } = setup(store)
      const attacker = client(send)
      await attacker.request('/')
      const planted = attacker.cookie!
      const victim = client(send)
      victim.cookie = planted
      expect((await victim.request('/login?user=alice', { method: 'POST' })).status).toBe(200)
      expect(victim.cookie).not.toBe(planted)

      expect(await whoami(planted)).toEqual({ userId: null, note: null, subject: null, stored: false })
      // A write through the planted ID starts the attacker's own session; it never reaches the victim's.
      const written = await post('/note?v=evil', planted)
      expect(cookieOf(written)).toBeDefined()
      expect(cookieOf(written)).not.toBe(victim.cookie)
      // Any route that regenerates gives the attacker only a session of their own.
      const relogged = await post('/login?user=mallory', planted)
      expect(await whoami(cookieOf(relogged)!)).toEqual({ userId: 'mallory', note: null, subject: 'mallory', stored: true })
      expect(await whoami(victim.cookie!)).toEqual({ userId: 'alice', note: null, subject: 'alice', stored: true })
      await store.close()
    })

    test('after automatic renewal the old ID reads and writes for the grace window, but never yields a live ID', async () => {
      const store = open()
      const { clock, send, whoami, post } = setup(store)
      const victim = client(send)
      await victim.request('/')
      await victim.request('/login?user=alice', { method: 'POST' })
      const old = victim.cookie!
      clock.now += 600_000
      await victim.request('/')
      expect(victim.cookie).not.toBe(old)

      // Requests in flight with the old ID still reach the record, and are never sent a cookie.
      const read = await send('/whoami', { headers: { cookie: old } })
      expect(await read.json()).toEqual({ userId: 'alice', note: null, subject: 'alice', stored: true })
      expect(read.headers.getSetCookie()).toEqual([])
      expect(cookieOf(await post('/note?v=in-flight', old))).toBeUndefined()
      expect((await whoami(victim.cookie!)).note).toBe('in-flight')

      // regenerate() through the old ID starts an empty session: the victim's data stays behind.
      const relogged = await post('/login?user=mallory', old)
      expect(relogged.status).toBe(200)
      expect(await whoami(cookieOf(relogged)!)).toEqual({ userId: 'mallory', note: null, subject: 'mallory', stored: true })
      // Without a login of its own, the new session is bound to nobody: the victim's subject stays behind.
      const renewed = await post('/renew-note?v=mine', old)
      expect(await whoami(cookieOf(renewed)!)).toEqual({ userId: null, note: 'mine', subject: null, stored: true })
      // setSubject() through the old ID is refused.
      const bound = await post('/bind?user=mallory', old)
      expect(bound.status).toBe(409)
      expect(bound.headers.getSetCookie()).toEqual([])
      // So is rememberMe(): whoever holds an old ID cannot stretch the live session's lifetime to weeks.
      const remembered = await post('/remember', old)
      expect(remembered.status).toBe(409)
      expect((await store.get(storeKey(idOf(victim.cookie!)), clock.now))?.remembered ?? false).toBe(false)
      expect(await whoami(victim.cookie!)).toEqual({ userId: 'alice', note: 'in-flight', subject: 'alice', stored: true })
      await store.close()
    })

    test('a request in flight when its session is revoked does not bring the login back', async () => {
      const store = open()
      let release = () => {}
      const gate = new Promise<void>((resolve) => (release = resolve))
      const app = new Elysia()
        .use(session<Data>({ store, secrets: [SECRET] }))
        .post('/login', async ({ session }) => {
          await session.regenerate()
          session.setSubject('alice')
          session.set('userId', 'alice')
          return 'welcome'
        })
        .post('/slow-note', async ({ session }) => {
          await gate
          session.set('note', 'late')
          return 'noted'
        })
        .get('/whoami', ({ session }) => ({ subject: session.subject ?? null, userId: session.get('userId') ?? null }))
      const send = handleWith(app)
      const browser = client(send)
      await browser.request('/login', { method: 'POST' })
      const slow = browser.request('/slow-note', { method: 'POST' })
      await Bun.sleep(20) // the slow request has loaded the session
      expect(await subjectSessions(store).revokeAll('alice')).toBe(1)
      release()
      expect((await slow).status).toBe(200)
      // Its own change lives on in a new session, bound to nobody and holding no login.
      expect(await (await browser.request('/whoami')).json()).toEqual({ subject: null, userId: null })
      expect(await subjectSessions(store).list('alice')).toEqual([])
      await store.close()
    })

    test('destroy() and destroySubject() end the grace window of old IDs at once', async () => {
      const store = open()
      const { clock, send, whoami } = setup(store)
      const renewedPair = async () => {
        const browser = client(send)
        await browser.request('/login?user=alice', { method: 'POST' })
        const old = browser.cookie!
        clock.now += 600_000
        await browser.request('/')
        expect((await whoami(old)).userId).toBe('alice')
        return { browser, old }
      }
      const first = await renewedPair()
      await first.browser.request('/logout', { method: 'POST' })
      expect((await whoami(first.old)).stored).toBe(false)
      const second = await renewedPair()
      expect(await subjectSessions(store, () => clock.now).revokeAll('alice')).toBe(1)
      expect((await whoami(second.old)).stored).toBe(false)
      expect((await whoami(second.browser.cookie!)).stored).toBe(false)
      await store.close()
    })
  })
}
