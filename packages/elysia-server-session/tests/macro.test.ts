/**
 * The `{ session: 'subject' }` route option: 401 with a clear body without a bound subject, and
 * `session.subject` typed `string` in the handler (`tsc --noEmit` checks the typed lines). It works
 * on a route, in a `group` and in a `guard`, and through a setup plugin.
 */
import { describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { memoryStore, session, type SessionStore } from '../src'
import { SECRET, client, handleWith } from './helpers'

type Data = { views: number }

/** An app on `store` with `/login` (binds the subject `ann`), `/logout`, and the routes `routes` adds. */
const appWith = <A extends Elysia<any, any, any, any, any, any, any>>(store: SessionStore, routes: (app: ReturnType<typeof base>) => A) => routes(base(store))
const base = (store: SessionStore) =>
  new Elysia()
    .use(new Elysia({ name: 'setup' }).use(session<Data>({ store, secrets: [SECRET] })))
    .post('/login', async ({ session }) => {
      await session.regenerate()
      session.setSubject('ann')
      return 'in'
    })
    .post('/logout', async ({ session }) => (await session.destroy(), 'out'))

describe("{ session: 'subject' }", () => {
  const signedIn = (store: SessionStore) =>
    appWith(store, (app) =>
      app
        .get('/account', ({ session }) => {
          const subject: string = session.subject
          return `account of ${subject}`
        }, { session: 'subject' })
        .get('/open', ({ session }) => {
          // @ts-expect-error without the option, the subject may be undefined
          const subject: string = session.subject
          return `open to ${subject ?? 'anyone'}`
        })
    )

  test('without a subject: 401, a text body, and the handler does not run', async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const response = await handleWith(signedIn(store))('/account', {})
    expect(response.status).toBe(401)
    expect(response.headers.get('content-type')).toStartWith('text/plain')
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(await response.text()).toBe('This page needs a signed-in session; sign in and retry.\n')
    await store.close()
  })

  test('without a subject, to a client that accepts JSON: 401 { error: SESSION_REQUIRED }', async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const response = await handleWith(signedIn(store))('/account', { headers: { accept: 'application/json' } })
    expect(response.status).toBe(401)
    expect(response.headers.get('content-type')).toStartWith('application/json')
    expect(await response.json()).toEqual({ error: 'SESSION_REQUIRED', message: 'This page needs a signed-in session; sign in and retry.' })
    await store.close()
  })

  test('a browser (Accept: text/html, */*) gets text', async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const accept = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'
    const response = await handleWith(signedIn(store))('/account', { headers: { accept } })
    expect(response.status).toBe(401)
    expect(response.headers.get('content-type')).toStartWith('text/plain')
    await store.close()
  })

  test('with a subject: the handler runs and sees it; after logout: 401 again', async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const browser = client(handleWith(signedIn(store)))
    await browser.request('/login', { method: 'POST' })
    const response = await browser.request('/account')
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('account of ann')
    expect(await (await browser.request('/open')).text()).toBe('open to ann')
    await browser.request('/logout', { method: 'POST' })
    expect((await browser.request('/account')).status).toBe(401)
    expect(await (await browser.request('/open')).text()).toBe('open to anyone')
    await store.close()
  })

  test('a fresh session bound to a subject and holding no data is stored: the login sticks', async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const app = appWith(store, (app) =>
      app.post('/bind', ({ session }) => (session.setSubject('bob'), 'bound')).get('/account', ({ session }) => session.subject, { session: 'subject' })
    )
    const browser = client(handleWith(app))
    const bound = await browser.request('/bind', { method: 'POST' })
    expect(bound.headers.getSetCookie()).toHaveLength(1)
    expect(await (await browser.request('/account')).text()).toBe('bob')
    await store.close()
  })

  test('a session with data but no subject is not signed in', async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const app = appWith(store, (app) =>
      app.get('/count', async ({ session }) => String(await session.increment('views'))).get('/account', ({ session }) => session.subject, { session: 'subject' })
    )
    const browser = client(handleWith(app))
    expect(await (await browser.request('/count')).text()).toBe('1')
    expect((await browser.request('/account')).status).toBe(401)
    await store.close()
  })

  test('in a group and in a guard; routes after them are open', async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const app = appWith(store, (app) =>
      app
        .group('/group', { session: 'subject' }, (app) => app.get('/in', ({ session }) => `group ${session.subject satisfies string}`))
        .guard({ session: 'subject' }, (app) => app.get('/guarded', ({ session }) => `guard ${session.subject satisfies string}`))
        .get('/after', () => 'open')
    )
    const browser = client(handleWith(app))
    for (const path of ['/group/in', '/guarded']) expect((await browser.request(path)).status).toBe(401)
    expect(await (await browser.request('/after')).text()).toBe('open')
    await browser.request('/login', { method: 'POST' })
    expect(await (await browser.request('/group/in')).text()).toBe('group ann')
    expect(await (await browser.request('/guarded')).text()).toBe('guard ann')
    await store.close()
  })

  test('a signed-in route still commits the session', async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const app = appWith(store, (app) => app.get('/visits', async ({ session }) => String(await session.increment('views')), { session: 'subject' }))
    const browser = client(handleWith(app))
    await browser.request('/login', { method: 'POST' })
    expect(await (await browser.request('/visits')).text()).toBe('1')
    expect(await (await browser.request('/visits')).text()).toBe('2')
    await store.close()
  })
})
