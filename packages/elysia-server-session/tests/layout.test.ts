/**
 * The usual Elysia layout: a named setup plugin uses the session plugin and the app uses the
 * setup plugin. Its routes get their session (types included: `tsc --noEmit` checks this file);
 * routes registered before the `.use()` never load one; `group` and `guard` keep sessions where
 * they were used.
 */
import { describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { memoryStore, session, type FullSessionStore, type SessionStore } from '../src'
import { SECRET, client, cookieOf, handleWith } from './helpers'

type Data = { views: number }

/** `store`, with every `get` (a session load) counted. */
function countingReads(store: FullSessionStore) {
  const reads = { count: 0 }
  const counted = Object.assign(Object.create(store), {
    get: (...args: Parameters<SessionStore['get']>) => (reads.count++, store.get(...args)),
  }) as FullSessionStore
  return { store: counted, reads }
}

const setupWith = (store: SessionStore, cookieName?: string) =>
  new Elysia({ name: 'setup' }).use(session<Data>({ store, secrets: [SECRET], cookieName }))

describe('a setup plugin that uses session()', () => {
  test("gives the app's routes their session: loaded, committed, and sent back", async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const app = new Elysia().use(setupWith(store)).get('/', async ({ session }) => {
      const views: number = await session.increment('views')
      // The session's type reaches the app's routes through the setup plugin (checked by tsc).
      // @ts-expect-error `views` holds a number
      if (views < 0) session.set('views', 'many')
      return String(views)
    })
    const browser = client(handleWith(app))
    const first = await browser.request('/')
    expect(first.status).toBe(200)
    expect(await first.text()).toBe('1')
    expect(first.headers.get('vary')).toBe('Cookie')
    expect(browser.cookie).toStartWith('id=')
    expect(await (await browser.request('/')).text()).toBe('2')
    await store.close()
  })

  test("CSRF protection reaches the app's routes through the setup plugin", async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const app = new Elysia().use(setupWith(store)).post('/transfer', () => 'done')
    expect((await handleWith(app)('/transfer', { method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(403)
    expect((await handleWith(app)('/transfer', { method: 'POST', headers: { 'sec-fetch-site': 'same-origin' } })).status).toBe(200)
    await store.close()
  })

  test('routes registered before the .use() never load a session', async () => {
    const { store, reads } = countingReads(memoryStore({ pruneIntervalMs: 0 }))
    const app = new Elysia()
      .get('/healthz', (context) => ('session' in context ? 'has session' : 'ok'))
      .use(setupWith(store))
      .get('/', async ({ session }) => String(await session.increment('views')))
    const cookie = cookieOf(await handleWith(app)('/', {}))!
    expect(reads.count).toBe(0) // a fresh session reads nothing
    await handleWith(app)('/', { headers: { cookie } })
    expect(reads.count).toBe(1)
    const probe = await handleWith(app)('/healthz', { headers: { cookie } })
    expect(await probe.text()).toBe('ok')
    expect(probe.headers.get('vary')).toBeNull()
    expect(probe.headers.getSetCookie()).toEqual([])
    expect(reads.count).toBe(1)
    await store.close()
  })

  test('the setup plugin used twice (by the app and by a sub-plugin) loads and commits once per request', async () => {
    const { store, reads } = countingReads(memoryStore({ pruneIntervalMs: 0 }))
    const setup = setupWith(store)
    const feature = new Elysia({ name: 'feature' }).use(setup).get('/feature', async ({ session }) => String(await session.increment('views')))
    const app = new Elysia().use(setup).use(feature)
    const browser = client(handleWith(app))
    await browser.request('/feature')
    reads.count = 0
    const second = await browser.request('/feature')
    expect(await second.text()).toBe('2')
    expect(reads.count).toBe(1)
    await store.close()
  })

  test('a guard over routes of the app keeps their session', async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const app = new Elysia()
      .use(setupWith(store))
      .guard({ beforeHandle: ({ request }) => (request.headers.get('x-no') ? new Response('no', { status: 403 }) : undefined) }, (app) =>
        app.get('/in', async ({ session }) => String(await session.increment('views')))
      )
    const browser = client(handleWith(app))
    expect(await (await browser.request('/in')).text()).toBe('1')
    expect(await (await browser.request('/in')).text()).toBe('2')
    expect((await browser.request('/in', { headers: { 'x-no': '1' } })).status).toBe(403)
    await store.close()
  })

  test('two session plugins with different cookie names in two groups: each group its own, nothing outside', async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const app = new Elysia()
      .group('/a', (app) => app.use(setupWith(store, 'a')).get('/', async ({ session }) => String(await session.increment('views'))))
      .group('/b', (app) => app.use(setupWith(store, 'b')).get('/', async ({ session }) => String(await session.increment('views'))))
      .get('/outside', (context) => ('session' in context ? 'has session' : 'none'))
    const a = client(handleWith(app))
    const b = client(handleWith(app))
    expect(await (await a.request('/a/')).text()).toBe('1')
    expect(await (await a.request('/a/')).text()).toBe('2')
    expect(a.cookie).toStartWith('a=')
    const onB = await b.request('/b/')
    expect(await onB.text()).toBe('1')
    expect(onB.headers.getSetCookie()).toHaveLength(1)
    expect(b.cookie).toStartWith('b=')
    const outside = await handleWith(app)('/outside', { headers: { cookie: `${a.cookie}; ${b.cookie}` } })
    expect(await outside.text()).toBe('none')
    expect(outside.headers.getSetCookie()).toEqual([])
    await store.close()
  })

  test('the plugin is named after the package, with the cookie name as its string seed', () => {
    const plugin = session({ store: memoryStore({ pruneIntervalMs: 0 }), secrets: [SECRET], cookieName: 'sid' })
    expect(plugin.config.name).toBe('elysia-server-session')
    expect(plugin.config.seed).toBe('sid')
  })
})

test('an option given as undefined takes its default', async () => {
  const store = memoryStore({ pruneIntervalMs: 0 })
  const app = new Elysia()
    .use(session<Data>({ store, secrets: [SECRET], cookieName: undefined, idleTimeout: undefined }))
    .get('/', async ({ session }) => String(await session.increment('views')))
  const setCookie = (await handleWith(app)('/', {})).headers.getSetCookie()[0]!
  expect(setCookie).toStartWith('id=')
  expect(setCookie).toContain('Max-Age=1800')
  await store.close()
})
