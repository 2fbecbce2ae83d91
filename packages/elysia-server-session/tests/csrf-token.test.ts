/**
 * The session-bound CSRF token: `session.csrfToken()` in a real form flow, the `csrf: { token }`
 * option and the per-route `csrfToken` macro, rotation with the ID and with the secrets.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { memoryStore, session, type SessionEvent, type SessionOptions, type FullSessionStore } from '../src'
import { OLD_SECRET, SECRET, client, handleWith } from './helpers'

type Data = { note: string; user: string }
const clock = { now: 1_700_000_000_000 }

function setup(options: Partial<SessionOptions> = {}, store: FullSessionStore = memoryStore({ pruneIntervalMs: 0, now: () => clock.now })) {
  const events: SessionEvent[] = []
  const app = new Elysia()
    .use(session<Data>({ store, secrets: [SECRET], now: () => clock.now, csrf: { token: true }, onEvent: (e) => events.push(e), ...options }))
    .get('/form', async ({ session, set }) => {
      set.headers['content-type'] = 'text/html; charset=utf-8'
      return `<form method="post" action="/note"><input type="hidden" name="_csrf" value="${await session.csrfToken()}"><input name="note"></form>`
    })
    .get('/plain', () => 'no token here')
    .post('/note', ({ session, body }) => {
      session.set('note', (body as { note?: string }).note ?? '')
      return 'saved'
    })
    .get('/note', ({ session }) => session.get('note') ?? '')
    .post('/logout', async ({ session }) => {
      await session.destroy()
      return `<form method="post" action="/note"><input type="hidden" name="_csrf" value="${await session.csrfToken()}"></form>`
    })
    .post('/login', async ({ session }) => {
      await session.regenerate()
      session.set('user', 'ada')
      return 'welcome'
    })
  return { app, store, events, send: handleWith(app) }
}

const tokenIn = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!
const form = (fields: Record<string, string>) => ({ method: 'POST', body: new URLSearchParams(fields) })
const REFUSED = 'CSRF token missing or invalid'

describe('session.csrfToken() in a form flow', () => {
  test('a first visit gets a token and a stored session; the form posts back with it', async () => {
    const { send, store } = setup()
    const browser = client(send)
    const page = await browser.request('/form')
    expect(page.headers.getSetCookie()).toHaveLength(1)
    expect((await store.stats(clock.now)).live).toBe(1)
    const token = tokenIn(await page.text())
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const saved = await browser.request('/note', form({ _csrf: token, note: 'hello' }))
    expect(await saved.text()).toBe('saved')
    expect(await (await browser.request('/note')).text()).toBe('hello')
    // The same session keeps the same token; the header works as the form field does.
    expect(tokenIn(await (await browser.request('/form')).text())).toBe(token)
    const viaHeader = await browser.request('/note', { method: 'POST', headers: { 'x-csrf-token': token, 'content-type': 'application/json' }, body: '{"note":"json"}' })
    expect(await viaHeader.text()).toBe('saved')
    const multipart = new FormData()
    multipart.set('_csrf', token)
    multipart.set('note', 'multipart')
    expect(await (await browser.request('/note', { method: 'POST', body: multipart })).text()).toBe('saved')
  })

  test('after destroy(), a token names a new session, which is stored and whose cookie is sent', async () => {
    const { send, store } = setup()
    const browser = client(send)
    const first = tokenIn(await (await browser.request('/form')).text())
    const oldCookie = browser.cookie
    const page = await browser.request('/logout', form({ _csrf: first }))
    expect(browser.cookie).toBeDefined()
    expect(browser.cookie).not.toBe(oldCookie)
    expect((await store.stats(clock.now)).live).toBe(1)
    const fresh = tokenIn(await page.text())
    expect(fresh).not.toBe(first)
    expect((await browser.request('/note', form({ _csrf: first, note: 'x' }))).status).toBe(403)
    expect((await browser.request('/note', form({ _csrf: fresh, note: 'x' }))).status).toBe(200)
  })

  test('HEAD of a form page stores nothing and sets no cookie', async () => {
    const { send, store } = setup()
    const response = await send('/form', { method: 'HEAD' })
    expect(response.status).toBe(200)
    expect(response.headers.getSetCookie()).toEqual([])
    expect((await store.stats(clock.now)).live).toBe(0)
  })

  test('a page without csrfToken() still stores nothing (lazy creation is unchanged)', async () => {
    const { send, store } = setup()
    const response = await send('/plain', {})
    expect(response.headers.getSetCookie()).toEqual([])
    expect((await store.stats(clock.now)).live).toBe(0)
  })

  test('a client that accepts JSON is refused in JSON, with a stable code', async () => {
    const { send } = setup()
    const browser = client(send)
    await browser.request('/form')
    const refused = await browser.request('/note', { method: 'POST', headers: { accept: 'application/json', 'x-csrf-token': 'wrong' } })
    expect(refused.status).toBe(403)
    expect(refused.headers.get('cache-control')).toBe('no-store')
    expect(await refused.json()).toEqual({ error: 'SESSION_CSRF_TOKEN', message: REFUSED })
  })

  test('missing, wrong, another session\'s, or sessionless tokens are refused with 403 and an audit event', async () => {
    const { send, events } = setup()
    const alice = client(send)
    const bob = client(send)
    const aliceToken = tokenIn(await (await alice.request('/form')).text())
    const bobToken = tokenIn(await (await bob.request('/form')).text())
    expect(bobToken).not.toBe(aliceToken)
    for (const fields of <Record<string, string>[]>[{}, { _csrf: '' }, { _csrf: bobToken }, { _csrf: aliceToken.slice(1) + 'A' }, { _csrf: 'é'.repeat(43) }]) {
      const response = await alice.request('/note', form({ ...fields, note: 'forged' }))
      expect(response.status).toBe(403)
      expect(await response.text()).toBe(`${REFUSED}\n`)
    }
    expect(events.filter((e) => e.type === 'csrf' && e.reason === 'token')).toHaveLength(5)
    // No cookie at all: no session to bind a token to.
    const anonymous = await send('/note', form({ _csrf: aliceToken, note: 'forged' }))
    expect(anonymous.status).toBe(403)
    expect(anonymous.headers.getSetCookie()).toEqual([])
    expect(await (await alice.request('/note')).text()).toBe('')
  })

  test('regenerate() rotates the token: the old one is refused, the new one works', async () => {
    const { send } = setup()
    const browser = client(send)
    const before = tokenIn(await (await browser.request('/form')).text())
    expect(await (await browser.request('/login', form({ _csrf: before }))).text()).toBe('welcome')
    expect((await browser.request('/note', form({ _csrf: before, note: 'x' }))).status).toBe(403)
    const after = tokenIn(await (await browser.request('/form')).text())
    expect(after).not.toBe(before)
    expect((await browser.request('/note', form({ _csrf: after, note: 'x' }))).status).toBe(200)
  })

  test('an automatic renewal due on the form page happens first, so its token names the new ID', async () => {
    const { send } = setup({ renewAfter: 10 })
    const browser = client(send)
    await browser.request('/form')
    const firstCookie = browser.cookie
    clock.now += 11_000
    const page = await browser.request('/form')
    expect(browser.cookie).not.toBe(firstCookie)
    const saved = await browser.request('/note', form({ _csrf: tokenIn(await page.text()), note: 'after renewal' }))
    expect(saved.status).toBe(200)
  })

  test('through an old ID in its grace window, csrfToken() never renews: the live session is left alone', async () => {
    // renewAfter shorter than the grace: a renewal is due again while the old ID still opens the record.
    let at = 1_700_000_000_000
    const app = new Elysia()
      .use(session<{ v: number }>({ store: memoryStore({ pruneIntervalMs: 0 }), secrets: [SECRET], now: () => at, renewAfter: 10, renewalGrace: 30 }))
      .get('/', async ({ session }) => String(await session.increment('v')))
      .get('/token', ({ session }) => session.csrfToken())
    const old = client(handleWith(app))
    expect(await (await old.request('/')).text()).toBe('1')
    const planted = old.cookie!
    at += 11_000
    expect(await (await old.request('/')).text()).toBe('2') // renewed: the client holds the new ID
    const renewed = client(handleWith(app))
    renewed.cookie = old.cookie
    at += 15_000
    const stale = client(handleWith(app))
    stale.cookie = planted
    const token = await stale.request('/token')
    expect(token.status).toBe(200)
    expect(token.headers.getSetCookie()).toEqual([])
    at += 40_000 // past the grace: only the renewed ID is left
    expect(await (await renewed.request('/')).text()).toBe('3')
  })

  test('secret rotation: a token issued under the old secret still verifies', async () => {
    const store = memoryStore({ pruneIntervalMs: 0, now: () => clock.now })
    const before = setup({ secrets: [OLD_SECRET] }, store)
    const after = setup({ secrets: [SECRET, OLD_SECRET] }, store)
    const browser = client(before.send)
    const token = tokenIn(await (await browser.request('/form')).text())
    const next = client(after.send)
    next.cookie = browser.cookie
    expect(await (await next.request('/note', form({ _csrf: token, note: 'rotated' }))).text()).toBe('saved')
    // Once the old secret is gone, neither its cookie nor its token counts.
    const only = client(setup({ secrets: [SECRET] }, store).send)
    only.cookie = browser.cookie
    expect((await only.request('/note', form({ _csrf: token, note: 'x' }))).status).toBe(403)
  })
})

describe('per-route token and exemptions', () => {
  const store = memoryStore({ pruneIntervalMs: 0 })
  const routes = (csrf: SessionOptions['csrf']) =>
    new Elysia()
      .use(session({ store, secrets: [SECRET], csrf }))
      .get('/form', async ({ session }) => session.csrfToken())
      .post('/strict', () => 'strict', { csrfToken: true })
      .post('/loose', () => 'loose')
      .post('/hook', () => 'hook')

  for (const csrf of [{}, false] as const) {
    test(`the csrfToken route option asks for the token on that route only (csrf: ${JSON.stringify(csrf)})`, async () => {
      const browser = client(handleWith(routes(csrf)))
      const token = await (await browser.request('/form')).text()
      expect((await browser.request('/strict', { method: 'POST' })).status).toBe(403)
      expect(await (await browser.request('/strict', { method: 'POST', headers: { 'x-csrf-token': token } })).text()).toBe('strict')
      expect(await (await browser.request('/loose', { method: 'POST' })).text()).toBe('loose')
    })
  }

  test('an exempt route needs no token in token mode', async () => {
    const send = handleWith(routes({ token: true, exempt: ['POST /hook'] }))
    expect(await (await send('/hook', { method: 'POST' })).text()).toBe('hook')
    expect((await send('/loose', { method: 'POST' })).status).toBe(403)
  })
})

describe('over a real server', () => {
  const { app } = setup({ csrf: { token: true } })
  app.listen({ port: 0, hostname: '127.0.0.1' })
  afterAll(() => app.stop())
  const base = `http://127.0.0.1:${app.server!.port}`

  test('a browser-like form post: same-origin with the token passes, cross-site with it does not', async () => {
    const browser = client((path, init) => fetch(base + path, init))
    const token = tokenIn(await (await browser.request('/form')).text())
    const sameOrigin = { 'sec-fetch-site': 'same-origin', origin: base, 'content-type': 'application/x-www-form-urlencoded' }
    const body = new URLSearchParams({ _csrf: token, note: 'real' }).toString()
    expect(await (await browser.request('/note', { method: 'POST', headers: sameOrigin, body })).text()).toBe('saved')
    const crossSite = { ...sameOrigin, 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' }
    const refused = await browser.request('/note', { method: 'POST', headers: crossSite, body })
    expect(refused.status).toBe(403)
    expect(await refused.text()).toBe('Cross-origin request refused\n')
  })
})
