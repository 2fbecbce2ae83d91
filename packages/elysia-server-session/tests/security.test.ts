import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { session, sqliteStore, type SessionEvent, type SessionOptions, type FullSessionStore } from '../src'
import { SECRET, client, cookieOf, handleWith, idOf, tempDir } from './helpers'

type Data = { views: number }
const dir = tempDir('security-')
let n = 0
const stores: FullSessionStore[] = []
afterAll(async () => {
  for (const store of stores) await store.close()
})

function appWith(options: Partial<SessionOptions> = {}) {
  const store = sqliteStore({ path: join(dir, `s${n++}.db`), pruneIntervalMs: 0 })
  stores.push(store)
  return new Elysia()
    .use(session<Data>({ store, secrets: [SECRET], ...options }))
    .get('/', async ({ session }) => String(await session.increment('views')))
    .get('/read', ({ session }) => String(session.get('views') ?? 0))
    .get('/renew', async ({ session }) => (await session.regenerate(), 'renewed'))
    .get('/logout', async ({ session }) => (await session.destroy(), 'bye'))
}

describe('audit events', () => {
  test('created, renewed, destroyed, expired and invalid carry a salted hash, never the ID', async () => {
    const events: SessionEvent[] = []
    const clock = { now: 1_700_000_000_000 }
    const send = handleWith(appWith({ onEvent: (e) => events.push(e), now: () => clock.now, idleTimeout: 60 }))
    const c = client(send)
    const ids: string[] = []
    await c.request('/')
    ids.push(idOf(c.cookie!))
    await c.request('/renew')
    ids.push(idOf(c.cookie!))
    await c.request('/logout')
    await c.request('/')
    ids.push(idOf(c.cookie!))
    clock.now += 61_000
    await c.request('/read')
    await send('/read', { headers: { cookie: 'id=tampered.value' } })
    expect(events.map((e) => e.type)).toEqual(['created', 'renewed', 'destroyed', 'created', 'expired', 'invalid'])
    const [created, renewed, destroyed, , expired] = events
    expect(renewed!.previous).toBe(created!.session!)
    expect(destroyed!.session).toBe(renewed!.session!)
    expect(expired!.session).toBe(events[3]!.session!)
    expect(created!.session).toMatch(/^[A-Za-z0-9_-]{22}$/)
    const text = JSON.stringify(events)
    for (const id of ids) {
      expect(text).not.toContain(id)
      expect(text).not.toContain(id.slice(0, 12))
    }
  })
})

describe('flood blocking by client address', () => {
  test('X-Forwarded-For names the client only behind a trusted proxy', async () => {
    const flood = { threshold: 2, blockSeconds: 60 }
    const quiet = { warn: () => {}, error: () => {} }
    const forgedFrom = (send: ReturnType<typeof handleWith>, address: string) =>
      send('/', { headers: { 'x-forwarded-for': `198.51.100.1, ${address}`, cookie: 'id=forged.cookie' } })
    const trusted = handleWith(appWith({ flood, trustProxy: 1, logger: quiet }))
    for (let i = 0; i < 2; i++) expect(cookieOf(await forgedFrom(trusted, '192.0.2.1'))).toStartWith('id=')
    expect(cookieOf(await forgedFrom(trusted, '192.0.2.1'))).toBeUndefined()
    expect(cookieOf(await forgedFrom(trusted, '192.0.2.2'))).toStartWith('id=')
    // Untrusted, the header is nobody's address (app.handle has no socket): nothing is counted.
    const untrusted = handleWith(appWith({ flood, logger: quiet }))
    for (let i = 0; i < 5; i++) expect(cookieOf(await forgedFrom(untrusted, '192.0.2.1'))).toStartWith('id=')
  })
})

describe('https, proxies and the __Host- prefix', () => {
  const attributes = (response: Response) => response.headers.getSetCookie()[0]?.split('; ') ?? []

  test('X-Forwarded-Proto is ignored unless the proxy is trusted', async () => {
    const headers = { 'x-forwarded-proto': 'https' }
    const untrusted = await handleWith(appWith())('/', { headers })
    expect(attributes(untrusted)[0]).toStartWith('id=')
    expect(attributes(untrusted)).not.toContain('Secure')
    const trusted = await handleWith(appWith({ trustProxy: 1 }))('/', { headers })
    expect(attributes(trusted)[0]).toStartWith('__Host-id=')
    expect(attributes(trusted)).toEqual(expect.arrayContaining(['Secure', 'Path=/', 'HttpOnly', 'SameSite=Lax']))
    expect(attributes(trusted).some((a) => a.startsWith('Domain'))).toBe(false)
  })

  test('a __Host- cookie is read back on the next https request', async () => {
    const app = appWith()
    const c = client((path, init) => app.handle(new Request(`https://localhost${path}`, init)))
    expect(await (await c.request('/')).text()).toBe('1')
    expect(c.cookie).toStartWith('__Host-id=')
    expect(await (await c.request('/')).text()).toBe('2')
  })

  test('secure: true never sends the cookie over plain http, nor stores a session; force does', async () => {
    const warnings: string[] = []
    const strictApp = appWith({ secure: true, logger: { warn: (m) => warnings.push(m), error: () => {} } })
    const strict = await handleWith(strictApp)('/', {})
    expect(strict.headers.getSetCookie()).toEqual([])
    expect((await stores.at(-1)!.stats(Date.now())).live).toBe(0)
    expect(warnings).toEqual(['session: secure cookie withheld on a plain http request'])
    const forced = await handleWith(appWith({ secure: 'force' }))('/', {})
    expect(attributes(forced)[0]).toStartWith('__Host-id=')
    expect(attributes(forced)).toContain('Secure')
  })
})

test('data that fails validation is a fresh session, not a 500', async () => {
  const store = sqliteStore({ path: join(dir, `v${n++}.db`), pruneIntervalMs: 0 })
  stores.push(store)
  const build = (validate: SessionOptions['validate']) =>
    handleWith(new Elysia().use(session<Data>({ store, secrets: [SECRET], validate, logger: { warn: () => {}, error: () => {} } })).get('/', async ({ session }) => String(await session.increment('views'))))
  const cookie = cookieOf(await build(undefined)('/', {}))!
  const strict = build((data) => data.views === undefined || (data.views as number) > 5)
  const response = await strict('/', { headers: { cookie } })
  expect(response.status).toBe(200)
  expect(await response.text()).toBe('1')
  expect(idOf(cookieOf(response)!)).not.toBe(idOf(cookie))
})
