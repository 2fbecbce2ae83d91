/**
 * Subjects over real HTTP on every store: bind sessions to a user, list them with their user
 * agents, revoke one, and "log out everywhere".
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { memoryStore, redisStore, session, sqliteStore, subjectSessions, type FullSessionStore } from '../src'
import { SECRET, client, handleWith, tempDir } from './helpers'
import { REDIS_URL, RUN_PREFIX, deleteKeys, redisReady } from './redis-helpers'

type Data = { views: number; user: string }
const dir = tempDir('subjects-')
const redisOk = await redisReady('subject tests on Redis')
afterAll(() => deleteKeys(`${RUN_PREFIX}subjects:`))

const stores: [string, () => FullSessionStore, boolean][] = [
  ['memory', () => memoryStore({ pruneIntervalMs: 0 }), true],
  ['sqlite', () => sqliteStore({ path: join(dir, 'subjects.db'), pruneIntervalMs: 0 }), true],
  ['redis', () => redisStore({ url: REDIS_URL, prefix: `${RUN_PREFIX}subjects:` }), redisOk],
]

for (const [name, open, available] of stores) {
  describe.skipIf(!available)(`subjects on the ${name} store`, () => {
    test('list a user\'s sessions, revoke one, then log out everywhere', async () => {
      const store = open()
      const devices = subjectSessions(store)
      const app = new Elysia()
        .use(session<Data>({ store, secrets: [SECRET] }))
        .post('/login', async ({ session, query }) => {
          await session.regenerate()
          session.set('user', query.user!)
          session.setSubject(query.user)
          return 'ok'
        })
        .get('/', async ({ session }) => String(await session.increment('views')))
        .get('/devices', async ({ session }) => ({ me: session.handle, devices: await devices.list(session.subject!) }))
        .post('/logout-everywhere', async ({ session }) => String(await devices.revokeAll(session.subject!)))
        .post('/revoke', async ({ session, query }) => String(await devices.revoke(session.subject!, query.handle!)))
      const send = handleWith(app)
      const browser = (ua: string) => client((path, init) => send(path, { ...init, headers: { ...Object.fromEntries(new Headers(init.headers)), 'user-agent': ua } }))
      const [laptop, phone, tablet, mallory] = [browser('Laptop/1'), browser('Phone/2'), browser('Tablet/3'), browser('Mallory/0')]
      for (const [c, user] of [[laptop, 'alice'], [phone, 'alice'], [tablet, 'alice'], [mallory, 'mallory']] as const) {
        await c.request('/')
        await c.request(`/login?user=${user}`, { method: 'POST' })
      }
      const listed = (await (await laptop.request('/devices')).json()) as { me: string; devices: { key: string; userAgent?: string }[] }
      expect(listed.devices.map((d) => d.userAgent).toSorted()).toEqual(['Laptop/1', 'Phone/2', 'Tablet/3'])
      expect(listed.devices.map((d) => d.key)).toContain(listed.me)
      expect(JSON.stringify(listed)).not.toContain(decodeURIComponent(laptop.cookie!.split('=')[1]!).split('.')[0])

      const phoneHandle = listed.devices.find((d) => d.userAgent === 'Phone/2')!.key
      // Mallory cannot revoke Alice's phone with its handle; Alice can.
      expect(await (await mallory.request(`/revoke?handle=${encodeURIComponent(phoneHandle)}`, { method: 'POST' })).text()).toBe('false')
      expect(await (await phone.request('/')).text()).toBe('2')
      expect(await (await laptop.request(`/revoke?handle=${encodeURIComponent(phoneHandle)}`, { method: 'POST' })).text()).toBe('true')
      expect(await (await phone.request('/')).text()).toBe('1')

      expect(await (await laptop.request('/logout-everywhere', { method: 'POST' })).text()).toBe('2')
      expect(await (await tablet.request('/')).text()).toBe('1')
      expect(await (await laptop.request('/')).text()).toBe('1')
      expect(await (await mallory.request('/')).text()).toBe('2')
      await store.close()
    })
  })
}
