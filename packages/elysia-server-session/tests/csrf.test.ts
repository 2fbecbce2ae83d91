/**
 * CSRF protection: the origin check (Go 1.25's CrossOriginProtection model) before the session
 * loads, trusted origins, exact exemptions, proxies, and the session-bound token.
 */
import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { Elysia } from 'elysia'
import { memoryStore, session, type SessionEvent, type SessionOptions, type SessionStore } from '../src'
import { createCsrfGuard } from '../src/csrf'
import { SECRET, client, handleWith } from './helpers'

type Data = { views: number }

/** A memory store that counts every call, so a test can see that a refusal never reached it. */
function countingStore() {
  const inner = memoryStore({ pruneIntervalMs: 0 })
  const calls: string[] = []
  const store = new Proxy(inner, {
    get: (target, prop: keyof SessionStore) =>
      typeof target[prop] === 'function' ? (...args: unknown[]) => (calls.push(prop), (target[prop] as Function)(...args)) : target[prop],
  })
  return { store, calls }
}

function setup(options: Partial<SessionOptions> = {}) {
  const { store, calls } = countingStore()
  const events: SessionEvent[] = []
  const app = new Elysia()
    .use(session<Data>({ store, secrets: [SECRET], onEvent: (event) => events.push(event), ...options }))
    .get('/', async ({ session }) => String(await session.increment('views')))
    .all('/change', async ({ session }) => String(await session.increment('views')))
  return { app, calls, events, send: handleWith(app) }
}

const CROSS = 'Cross-origin request refused'

describe('origin check (Go 1.25 CrossOriginProtection model)', () => {
  // [method, Sec-Fetch-Site, Origin, expected status], after Go's own table; the request is to http://localhost.
  const table: [string, string | null, string | null, number][] = [
    ['POST', 'same-origin', null, 200],
    ['POST', 'none', null, 200],
    ['POST', 'cross-site', null, 403],
    ['POST', 'same-site', null, 403],
    ['POST', 'garbage', null, 403],
    ['POST', null, null, 200],
    ['POST', null, 'http://localhost', 200],
    ['POST', null, 'http://localhost:80', 200],
    ['POST', null, 'http://LOCALHOST', 200],
    ['POST', null, 'https://localhost', 403],
    ['POST', null, 'http://localhost:8080', 403],
    ['POST', null, 'http://evil.example', 403],
    ['POST', null, 'null', 403],
    ['POST', null, 'not a url', 403],
    // Sec-Fetch-Site decides when present; Origin is only its fallback.
    ['POST', 'cross-site', 'http://localhost', 403],
    ['POST', 'same-origin', 'http://evil.example', 200],
    ['GET', 'cross-site', 'http://evil.example', 200],
    ['HEAD', 'cross-site', 'http://evil.example', 200],
    ['OPTIONS', 'cross-site', 'http://evil.example', 200],
    ['PUT', 'cross-site', null, 403],
    ['PATCH', null, 'http://evil.example', 403],
    ['DELETE', 'cross-site', null, 403],
    ['PROPFIND', 'cross-site', null, 403],
  ]
  for (const [method, site, origin, status] of table) {
    test(`${method} with Sec-Fetch-Site ${site} and Origin ${origin}: ${status}`, async () => {
      const { send, calls } = setup()
      const headers = new Headers()
      if (site !== null) headers.set('sec-fetch-site', site)
      if (origin !== null) headers.set('origin', origin)
      const response = await send('/change', { method, headers })
      expect(response.status).toBe(status)
      if (status === 403) {
        expect(await response.text()).toBe(`${CROSS}\n`)
        expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8')
        expect(calls).toEqual([])
      }
    })
  }

  test('a refused request never reaches the store and its session lives on, with a csrf audit event', async () => {
    const { send, calls, events } = setup({ trustProxy: 1 })
    const browser = client(send)
    expect(await (await browser.request('/')).text()).toBe('1')
    calls.length = 0
    const refused = await browser.request('/change', { method: 'POST', headers: { 'sec-fetch-site': 'cross-site', 'x-forwarded-for': '203.0.113.9' } })
    expect(refused.status).toBe(403)
    expect(refused.headers.getSetCookie()).toEqual([])
    expect(calls).toEqual([])
    expect(events.at(-1)).toMatchObject({ type: 'csrf', reason: 'sec-fetch-site', address: '203.0.113.9' })
    await browser.request('/change', { method: 'POST', headers: { origin: 'http://evil.example' } })
    expect(events.at(-1)).toMatchObject({ type: 'csrf', reason: 'origin' })
    expect(await (await browser.request('/')).text()).toBe('2')
  })

  test('a client that accepts JSON is refused in JSON, with a stable code; others get the text', async () => {
    const { send } = setup()
    const cross = { 'sec-fetch-site': 'cross-site' }
    const json = await send('/change', { method: 'POST', headers: { ...cross, accept: 'application/json' } })
    expect(json.status).toBe(403)
    expect(json.headers.get('content-type')).toStartWith('application/json')
    expect(json.headers.get('cache-control')).toBe('no-store')
    expect(await json.json()).toEqual({ error: 'SESSION_CSRF_ORIGIN', message: CROSS })
    // A browser's navigation accepts text/html (and */*): it keeps the text answer.
    const page = await send('/change', { method: 'POST', headers: { ...cross, accept: 'text/html,application/json;q=0.9,*/*;q=0.8' } })
    expect([page.status, page.headers.get('content-type'), await page.text()]).toEqual([403, 'text/plain; charset=utf-8', `${CROSS}\n`])
  })

  test('`csrf: false` turns the check off', async () => {
    const { send } = setup({ csrf: false })
    expect((await send('/change', { method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(200)
  })

  test('allowSameSite accepts Sec-Fetch-Site: same-site, and only that', async () => {
    const { send } = setup({ csrf: { allowSameSite: true } })
    const post = (site: string) => send('/change', { method: 'POST', headers: { 'sec-fetch-site': site } })
    expect((await post('same-site')).status).toBe(200)
    expect((await post('cross-site')).status).toBe(403)
  })

  test('trusted origins pass exactly, with or without Sec-Fetch-Site', async () => {
    const { send } = setup({ csrf: { trustedOrigins: ['https://app.example', 'http://127.0.0.1:5173'] } })
    const post = (origin: string, site?: string) =>
      send('/change', { method: 'POST', headers: { origin, ...(site ? { 'sec-fetch-site': site } : {}) } })
    expect((await post('https://app.example')).status).toBe(200)
    expect((await post('https://app.example', 'cross-site')).status).toBe(200)
    expect((await post('http://127.0.0.1:5173', 'same-site')).status).toBe(200)
    for (const near of ['https://app.example.evil', 'http://app.example', 'https://APP.example', 'https://app.example:443', 'http://127.0.0.1:5174']) {
      expect((await post(near, 'cross-site')).status).toBe(403)
      expect((await post(near)).status).toBe(403)
    }
  })

  test('trusted origins and exemptions are validated when the plugin is made', () => {
    const make = (csrf: unknown) => () => session({ store: memoryStore(), secrets: [SECRET], csrf: csrf as SessionOptions['csrf'] })
    for (const origin of ['https://example.com', 'https://example.com:8080', 'http://example.com', 'chrome-extension://abcdef']) {
      expect(make({ trustedOrigins: [origin] })).not.toThrow()
    }
    const bad = ['example.com', 'https://', 'https://example.com/', 'https://example.com/path', 'https://example.com?q=1', 'https://example.com#f', 'https://ex ample.com', '', 'null', 'https://Example.com', 'https://example.com:443', 'https://user@example.com', 42]
    for (const origin of bad) expect(make({ trustedOrigins: [origin] })).toThrow(/csrf\.trustedOrigins entry/)
    expect(make({ trustedOrigins: ['https://Example.com'] })).toThrow('did you mean "https://example.com"?')
    for (const route of ['/webhook', 'post /webhook', 'POST webhook', 'POST /webhook?x=1', 'POST  /webhook', 'POST /a b', 7]) {
      expect(make({ exempt: [route] })).toThrow(/csrf\.exempt entry/)
    }
    expect(make({ exempt: ['GET /webhook'] })).toThrow('GET is never checked')
    expect(make('yes')).toThrow('`csrf` must be an options object or false')
    expect(make({ trustedOrigins: 'https://a.example' })).toThrow('csrf.trustedOrigins must be an array')
    expect(make({ token: 'yes' })).toThrow('csrf.token must be true or false')
    expect(make({ trustedOrigins: undefined, token: undefined })).not.toThrow()
  })
})

describe('exemptions match exactly that method and path', () => {
  const hits: string[] = []
  const { store } = countingStore()
  const app = new Elysia()
    .use(session({ store, secrets: [SECRET], csrf: { exempt: ['POST /webhook'] } }))
    .post('/webhook', () => (hits.push('webhook'), 'hook'))
    .put('/webhook', () => (hits.push('put'), 'put'))
    .post('/webhook/:x', () => (hits.push('x'), 'x'))
    .post('/webhookx', () => (hits.push('webhookx'), 'x'))
    .post('/Webhook', () => (hits.push('Webhook'), 'W'))
    .post('/admin', () => (hits.push('admin'), 'admin'))
  const cross = { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }

  test('the guard itself: only the exact string is exempt', () => {
    const guard = createCsrfGuard({ exempt: ['POST /webhook'] })
    expect(guard.isExempt('POST', '/webhook')).toBe(true)
    for (const path of ['/webhook/../admin', '/webhook/x', '/webhookx', '//webhook', '/webhook/', '/Webhook', '/WEBHOOK', '/webhook%2F', '/%77ebhook', '/webhook;x', '/webhook/.', ' /webhook']) {
      expect(guard.isExempt('POST', path)).toBe(false)
    }
    expect(guard.isExempt('post', '/webhook')).toBe(false)
    expect(guard.isExempt('PUT', '/webhook')).toBe(false)
  })

  test('over app.handle: the exempt route passes; its neighbours are refused', async () => {
    const send = handleWith(app)
    expect((await send('/webhook', { method: 'POST', headers: cross })).status).toBe(200)
    expect((await send('/webhook?source=stripe', { method: 'POST', headers: cross })).status).toBe(200)
    hits.length = 0
    for (const [method, path] of [['PUT', '/webhook'], ['POST', '/webhook/x'], ['POST', '/webhookx'], ['POST', '/Webhook'], ['POST', '/webhook/']]) {
      const response = await send(path!, { method: method!, headers: cross })
      expect({ method, path, status: response.status }).toEqual({ method, path, status: 403 })
    }
    expect(hits).toEqual([])
  })

  test('over a real socket, raw paths the URL parser would clean are not exempt', async () => {
    const server = app.listen({ port: 0, hostname: '127.0.0.1' }).server!
    try {
      hits.length = 0
      for (const path of ['/webhook/../admin', '//webhook', '/webhook/./', '/WEBHOOK', '/webhook/x/../../admin']) {
        const status = await rawRequest(server.port!, `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Site: cross-site\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
        expect({ path, refusedOrUnrouted: status === 403 || status === 404 }).toEqual({ path, refusedOrUnrouted: true })
      }
      expect(hits).toEqual([])
      expect(await rawRequest(server.port!, 'POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Site: cross-site\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')).toBe(200)
    } finally {
      await app.stop()
    }
  })
})

/** Sends `text` as is over TCP (fetch would clean the path) and returns the response status. */
async function rawRequest(port: number, text: string): Promise<number> {
  const { promise, resolve, reject } = Promise.withResolvers<number>()
  let received = ''
  await Bun.connect({
    hostname: '127.0.0.1',
    port,
    socket: {
      open: (socket) => void socket.write(text),
      data(socket, chunk) {
        received += chunk.toString()
        const status = /^HTTP\/1\.1 (\d{3})/.exec(received)
        if (status) resolve(Number(status[1])), socket.end()
      },
      error: (_, error) => reject(error),
      close: () => reject(new Error(`connection closed after ${JSON.stringify(received)}`)),
    },
  })
  return promise
}

describe('behind proxies', () => {
  const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example', origin: 'https://shop.example' }
  const post = (send: ReturnType<typeof handleWith>, headers: Record<string, string>) =>
    send('/change', { method: 'POST', headers })

  test('the request origin comes from trusted X-Forwarded-Proto and X-Forwarded-Host', async () => {
    expect((await post(setup({ trustProxy: 1 }).send, forwarded)).status).toBe(200)
    // The nearest proxy's values count.
    expect((await post(setup({ trustProxy: 1 }).send, { ...forwarded, 'x-forwarded-host': 'evil.example, shop.example' })).status).toBe(200)
    expect((await post(setup({ trustProxy: 1 }).send, { ...forwarded, 'x-forwarded-host': 'shop.example:443' })).status).toBe(200)
    expect((await post(setup({ trustProxy: 1 }).send, { ...forwarded, 'x-forwarded-proto': 'http' })).status).toBe(403)
    expect((await post(setup({ trustProxy: 1 }).send, { ...forwarded, 'x-forwarded-host': 'shop.example/x' })).status).toBe(403)
  })

  test('without trustProxy, forwarded headers count for nothing', async () => {
    expect((await post(setup().send, forwarded)).status).toBe(403)
    expect((await post(setup().send, { ...forwarded, origin: 'http://localhost' })).status).toBe(200)
  })
})

describe('Elysia composition', () => {
  test('routes in a group or a guard under the plugin are protected, and so are routes after the .use() of the app that uses it; routes before it are not', async () => {
    const { store } = countingStore()
    const sub = new Elysia({ prefix: '/app' })
      .use(session({ store, secrets: [SECRET] }))
      .group('/api', (group) => group.post('/save', () => 'saved'))
      .guard({ headers: undefined }, (guarded) => guarded.delete('/item', () => 'deleted'))
      .post('/direct', () => 'direct')
    const app = new Elysia().post('/public-before', () => 'before').use(sub).post('/parent', () => 'parent')
    const send = handleWith(app)
    const cross = { method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } }
    expect((await send('/app/api/save', cross)).status).toBe(403)
    expect((await send('/app/item', { ...cross, method: 'DELETE' })).status).toBe(403)
    expect((await send('/app/direct', cross)).status).toBe(403)
    expect((await send('/app/api/save', { method: 'POST' })).status).toBe(200)
    // The plugin's hooks are global (so that a setup plugin works): they reach the routes the parent
    // registers after its .use(sub), and never those it registered before.
    expect((await send('/public-before', cross)).status).toBe(200)
    expect((await send('/parent', cross)).status).toBe(403)
    expect((await send('/parent', { method: 'POST' })).status).toBe(200)
  })
})

describe('fuzzed headers', () => {
  /** Header-safe text: Latin-1 without CR, LF or NUL. */
  const headerText = fc.string({ unit: 'binary', maxLength: 120 }).map((s) => s.replace(/[^\x01-\xff]|[\r\n]/g, ''))
  const site = fc.oneof(fc.constantFrom('same-origin', 'none', 'same-site', 'cross-site', ''), headerText)
  const origin = fc.oneof(fc.constantFrom('http://localhost', 'null', 'http://evil.example', 'https://localhost', 'http://[::1]', 'http://xn--'), fc.webUrl(), headerText)
  const host = fc.oneof(fc.constantFrom('localhost', 'shop.example:443', '[::1]:80', 'a b', '@', ''), fc.domain(), headerText)
  const method = fc.constantFrom('GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE', 'PROPFIND')
  const optional = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: undefined })

  test('any Sec-Fetch-Site, Origin, X-Forwarded-* and token: never a 5xx; safe methods and header-less requests always pass', async () => {
    const { send } = setup({ trustProxy: 1, csrf: { trustedOrigins: ['https://app.example'] } })
    const tokenApp = setup({ trustProxy: 1, csrf: { token: true } })
    await fc.assert(
      fc.asyncProperty(method, optional(site), optional(origin), optional(host), optional(headerText), optional(headerText), async (m, s, o, h, proto, token) => {
        const headers = new Headers()
        if (s !== undefined) headers.set('sec-fetch-site', s)
        if (o !== undefined) headers.set('origin', o)
        if (h !== undefined) headers.set('x-forwarded-host', h)
        if (proto !== undefined) headers.set('x-forwarded-proto', proto)
        if (token !== undefined) headers.set('x-csrf-token', token)
        const response = await send('/change', { method: m, headers })
        expect(response.status).toBeLessThan(500)
        expect([200, 403]).toContain(response.status)
        if (['GET', 'HEAD', 'OPTIONS'].includes(m) || (!headers.get('sec-fetch-site') && !headers.get('origin'))) expect(response.status).toBe(200)
        const withToken = await tokenApp.send('/change', { method: m, headers })
        expect([200, 403]).toContain(withToken.status)
      }),
      { numRuns: 400 }
    )
  })
})
