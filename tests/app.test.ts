import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import { createApp } from '../src/app'
import { createServerMetrics } from '../src/observability'
import { redisStore, sqliteStore } from 'elysia-server-session'
import { redisReady, startOwnRedis } from '../packages/elysia-server-session/tests/redis-helpers'
import { SECRET, client, handleWith, tempDir } from './helpers'

const dir = tempDir('app-test-')
const dbPath = join(dir, 'sessions.db')
const rows = () => {
  const db = new Database(dbPath, { readonly: true })
  const { n } = db.query('SELECT count(*) AS n FROM sessions').get() as { n: number }
  db.close()
  return n
}

describe('the counter server over real HTTP', () => {
  const store = sqliteStore({ path: dbPath, pruneIntervalMs: 0 })
  const app = createApp({ store, secrets: [SECRET], log: { warn: () => {}, error: () => {} } })
  let base = ''
  beforeAll(() => {
    app.listen({ port: 0, hostname: '127.0.0.1' })
    base = `http://127.0.0.1:${app.server!.port}`
  })
  afterAll(async () => {
    await app.stop()
    await store.close()
  })
  const visitor = () => client((path, init) => fetch(base + path, init))

  test('visits 1..5 show the tutorial texts; a second client starts at 1', async () => {
    const first = visitor()
    const texts: string[] = []
    for (let i = 0; i < 5; i++) {
      const response = await first.request('/')
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8')
      texts.push(await response.text())
    }
    expect(texts).toEqual([
      'Welcome to this page for the first time!',
      'You visited this page 2 times',
      'You visited this page 3 times',
      'You visited this page 4 times',
      'You visited this page 5 times',
    ])
    const second = visitor()
    expect(await (await second.request('/')).text()).toBe('Welcome to this page for the first time!')
    expect(await (await first.request('/')).text()).toBe('You visited this page 6 times')
  })

  test('/healthz never touches sessions: no cookie, no record', async () => {
    const before = rows()
    const response = await fetch(base + '/healthz')
    expect(response.status).toBe(200)
    expect(response.headers.getSetCookie()).toEqual([])
    expect(rows()).toBe(before)
  })

  test('/readyz is 200 while the store answers', async () => {
    const response = await fetch(base + '/readyz')
    expect(response.status).toBe(200)
    expect(response.headers.getSetCookie()).toEqual([])
  })

  test('POST /logout destroys the session, clears the cookie and site cookies', async () => {
    const c = visitor()
    await c.request('/')
    await c.request('/')
    const cookie = c.cookie!
    const before = rows()
    const response = await c.request('/logout', { method: 'POST' })
    expect(response.status).toBe(200)
    expect(response.headers.get('clear-site-data')).toBe('"cookies"')
    expect(response.headers.getSetCookie()[0]).toMatch(/^id=; Max-Age=0; Path=\/; HttpOnly; SameSite=Lax/)
    expect(rows()).toBe(before - 1)
    const replay = await fetch(base + '/', { headers: { cookie } })
    expect(await replay.text()).toBe('Welcome to this page for the first time!')
  })

  test('a cross-site POST /logout is refused with 403 and the session lives on; a same-origin one works', async () => {
    const c = visitor()
    await c.request('/')
    const before = rows()
    for (const headers of <Record<string, string>[]>[{ 'sec-fetch-site': 'cross-site' }, { origin: 'http://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'same-site', origin: base }]) {
      const refused = await c.request('/logout', { method: 'POST', headers })
      expect(refused.status).toBe(403)
      expect(await refused.text()).toBe('Cross-origin request refused\n')
      expect(refused.headers.getSetCookie()).toEqual([])
      expect(refused.headers.get('clear-site-data')).toBeNull()
    }
    expect(rows()).toBe(before)
    expect(await (await c.request('/')).text()).toBe('You visited this page 2 times')
    const sameOrigin = await c.request('/logout', { method: 'POST', headers: { 'sec-fetch-site': 'same-origin', origin: base } })
    expect(await sameOrigin.text()).toBe('Logged out')
    expect(rows()).toBe(before - 1)
    expect(await (await c.request('/')).text()).toBe('Welcome to this page for the first time!')
  })
})

describe('HEAD never counts a visit', () => {
  const store = sqliteStore({ path: join(dir, 'head.db'), pruneIntervalMs: 0 })
  const send = handleWith(createApp({ store, secrets: [SECRET], log: { warn: () => {}, error: () => {} } }))
  afterAll(() => store.close())
  const headThrice = async (c: ReturnType<typeof client>) => {
    for (let i = 0; i < 3; i++) {
      const head = await c.request('/', { method: 'HEAD' })
      expect(head.status).toBe(200)
      expect(head.headers.getSetCookie()).toEqual([])
    }
  }

  test('a fresh client: HEAD / three times, then GET / is its first visit', async () => {
    const c = client(send)
    await headThrice(c)
    expect(await (await c.request('/')).text()).toBe('Welcome to this page for the first time!')
  })

  test('a returning client: HEAD / three times, then GET / counts one more', async () => {
    const c = client(send)
    for (let i = 0; i < 4; i++) await c.request('/')
    await headThrice(c)
    const response = await c.request('/')
    expect(await response.text()).toBe('You visited this page 5 times')
  })
})

test('a returning visitor\'s page is private to it (Cache-Control), the first one no-store', async () => {
  const store = sqliteStore({ path: join(dir, 'cache.db'), pruneIntervalMs: 0 })
  const c = client(handleWith(createApp({ store, secrets: [SECRET], log: { warn: () => {}, error: () => {} } })))
  expect((await c.request('/')).headers.get('cache-control')).toBe('no-store')
  const again = await c.request('/')
  expect(again.headers.getSetCookie()).toEqual([])
  expect(again.headers.get('cache-control')).toBe('private')
  await store.close()
})

test('with the defaults a flood from one address is counted and logged once, and everyone is served', async () => {
  const store = sqliteStore({ path: join(dir, 'flood.db'), pruneIntervalMs: 0 })
  const warnings: string[] = []
  const metrics = createServerMetrics(async () => 0)
  const app = createApp({ store, metrics, secrets: [SECRET], log: { warn: (m) => warnings.push(m), error: () => {} } }).listen({ port: 0, hostname: '127.0.0.1' })
  const base = `http://127.0.0.1:${app.server!.port}`
  const statuses = new Set<number>()
  for (let i = 0; i < 650; i++) {
    const response = await fetch(base + '/', i % 3 ? {} : { headers: { cookie: 'id=forged.cookie' } })
    statuses.add(response.status)
    expect(await response.text()).toBe('Welcome to this page for the first time!')
  }
  expect([...statuses]).toEqual([200])
  expect(warnings.filter((w) => w.includes('flood'))).toHaveLength(1)
  expect(metrics.render()).toContain('sessions_events_total{type="flood"} 1') // /metrics has a listener of its own
  await app.stop()
  await store.close()
})

test('/readyz is 503 when the store does not answer', async () => {
  const store = sqliteStore({ path: join(dir, 'closed.db'), pruneIntervalMs: 0 })
  const app = createApp({ store, secrets: [SECRET], log: { warn: () => {}, error: () => {} } })
  await store.close()
  const response = await app.handle(new Request('http://localhost/readyz'))
  expect(response.status).toBe(503)
})

test('a restart on the same file keeps the counts', async () => {
  const path = join(dir, 'restart.db')
  const c = client((p, init) => app.handle(new Request(`http://localhost${p}`, init)))
  let store = sqliteStore({ path, pruneIntervalMs: 0 })
  let app = createApp({ store, secrets: [SECRET] })
  await c.request('/')
  await c.request('/')
  await store.close()
  store = sqliteStore({ path, pruneIntervalMs: 0 })
  app = createApp({ store, secrets: [SECRET] })
  expect(await (await c.request('/')).text()).toBe('You visited this page 3 times')
  await store.close()
})

const ownRedis = await redisReady('readyz on a Redis with a password', true, false)
test.skipIf(!ownRedis)('/readyz names a Redis that refuses the credentials (WRONGPASS), not an unreachable one', async () => {
  const redis = await startOwnRedis({ password: 'the-right-password' })
  try {
    const store = redisStore({ url: `redis://default:wrong@127.0.0.1:${redis.port}`, prefix: 'readyz:', warn: () => {} })
    const app = createApp({ store, secrets: [SECRET], log: { warn: () => {}, error: () => {} } })
    const response = await app.handle(new Request('http://localhost/readyz'))
    expect(response.status).toBe(503)
    // The code only: the engine's own message (which may name hosts and users) goes to the log, not to anyone who asks.
    expect(await response.text()).toBe('session store unavailable: WRONGPASS')
    await store.close()
  } finally {
    await redis.stop()
  }
})
