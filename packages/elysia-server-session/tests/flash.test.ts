/**
 * Flash messages over real HTTP on every store (memory, SQLite, Redis, PostgreSQL): stored before a redirect, taken once on the page
 * it leads to (and not after a reload), exactly once under parallel requests, invisible to the
 * data, `validate` and `get`, left alone by HEAD.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { memoryStore, redisStore, session, sqliteStore, type FullSessionStore } from '../src'
import { SECRET, client, handleWith, tempDir } from './helpers'
import { REDIS_URL, RUN_PREFIX, deleteKeys, redisReady } from './redis-helpers'
import { postgresTestDatabase } from './postgres-helpers'

type Data = { user?: string }
type Flash = { notice: string; error: string; items: { sku: string }[] }
const dir = tempDir('flash-')
const redisOk = await redisReady('flash tests on Redis')
afterAll(() => deleteKeys(`${RUN_PREFIX}flash:`))

const postgres = await postgresTestDatabase('flash tests on PostgreSQL')
const stores: [string, () => FullSessionStore, boolean][] = [
  ['memory', () => memoryStore({ pruneIntervalMs: 0 }), true],
  ['sqlite', () => sqliteStore({ path: join(dir, `flash-${Date.now()}.db`), pruneIntervalMs: 0 }), true],
  ['redis', () => redisStore({ url: REDIS_URL, prefix: `${RUN_PREFIX}flash:${Date.now()}:` }), redisOk],
  ['postgres', () => postgres.open(), postgres.ready],
]

function flashApp(store: FullSessionStore, seen: object[] = []) {
  return new Elysia()
    .use(session<Data, Flash>({ store, secrets: [SECRET], validate: (data) => (seen.push({ ...data }), true) }))
    .post('/login', async ({ session, redirect }) => {
      session.set('user', 'alice')
      session.flash('notice', 'Welcome, Alice!')
      session.flash('items', [{ sku: 'a1' }])
      return redirect('/account', 303)
    })
    .get('/account', async ({ session }) => {
      const { notice, items } = await session.takeFlash()
      return { notice: notice ?? null, items: items ?? null, user: session.get('user') ?? null, has: session.has('~flash:notice' as never) }
    })
    .get('/notice', async ({ session }) => (await session.takeFlash('notice')) ?? 'none')
    .post('/logout', async ({ session, redirect }) => {
      await session.destroy()
      session.flash('notice', 'You are logged out')
      return redirect('/', 303)
    })
    .get('/', async ({ session }) => ({ notice: (await session.takeFlash('notice')) ?? null, user: session.get('user') ?? null }))
}

for (const [name, open, available] of stores) {
  describe.skipIf(!available)(`flash on the ${name} store`, () => {
    test('a flash set before return redirect() survives it, shows once, and not after a reload', async () => {
      const store = open()
      const seen: object[] = []
      const browser = client(handleWith(flashApp(store, seen)))
      const login = await browser.request('/login', { method: 'POST' })
      expect(login.status).toBe(303)
      expect(login.headers.get('location')).toBe('/account')
      expect(login.headers.getSetCookie()).toHaveLength(1)
      expect(await (await browser.request('/account')).json()).toEqual({ notice: 'Welcome, Alice!', items: [{ sku: 'a1' }], user: 'alice', has: false })
      expect(await (await browser.request('/account')).json()).toEqual({ notice: null, items: null, user: 'alice', has: false })
      // validate never saw the reserved keys.
      expect(seen.length).toBeGreaterThan(0)
      for (const data of seen) expect(data).toEqual({ user: 'alice' })
      await store.close()
    })

    test('of parallel requests, exactly one gets the message', async () => {
      const store = open()
      const send = handleWith(flashApp(store))
      for (let round = 0; round < 5; round++) {
        const browser = client(send)
        await browser.request('/login', { method: 'POST' })
        const answers = await Promise.all(Array.from({ length: 8 }, () => browser.request('/notice').then((r) => r.text())))
        expect(answers.filter((text) => text === 'Welcome, Alice!')).toHaveLength(1)
        expect(answers.filter((text) => text === 'none')).toHaveLength(7)
      }
      await store.close()
    })

    test('HEAD sees nothing consumed; logout flashes into a new session that holds only the message', async () => {
      const store = open()
      const browser = client(handleWith(flashApp(store)))
      await browser.request('/login', { method: 'POST' })
      expect((await browser.request('/notice', { method: 'HEAD' })).status).toBe(200)
      expect(await (await browser.request('/notice')).text()).toBe('Welcome, Alice!')
      const before = browser.cookie
      await browser.request('/logout', { method: 'POST' })
      expect(browser.cookie).toBeDefined()
      expect(browser.cookie).not.toBe(before)
      expect(await (await browser.request('/')).json()).toEqual({ notice: 'You are logged out', user: null })
      expect(await (await browser.request('/')).json()).toEqual({ notice: null, user: null })
      await store.close()
    })
  })
}

test('flash messages are typed by the second type parameter', () => {
  const store = memoryStore({ pruneIntervalMs: 0 })
  new Elysia().use(session<Data, Flash>({ store, secrets: [SECRET] })).get('/', async ({ session }) => {
    if (store === undefined) {
      // Never runs: these lines exist for the type checker.
      // @ts-expect-error not a flash name
      session.flash('nope', 'x')
      // @ts-expect-error notice is text
      session.flash('notice', 1)
      const items: readonly { readonly sku: string }[] | undefined = await session.takeFlash('items')
      const all: { notice?: string } = await session.takeFlash()
      void items, all
    }
    return 'ok'
  })
  // Untyped: text by name.
  new Elysia().use(session({ store, secrets: [SECRET] })).get('/', ({ session }) => session.flash('anything', 'text'))
  store.close()
})
