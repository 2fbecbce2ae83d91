import { afterAll, describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { memoryStore, session } from '../src'
import { SECRET, client, cookieOf, handleWith, recordingWrites } from './helpers'

type Data = { views: number; note: string }
const clock = { now: 1_700_000_000_000 }
const inner = memoryStore({ pruneIntervalMs: 0 })
afterAll(() => inner.close())
const writes: string[] = []
const store = recordingWrites(inner, writes)
const app = new Elysia()
  .use(session<Data>({ store, secrets: [SECRET], now: () => clock.now, renewAfter: 600 }))
  .get('/', async ({ session }) => String(await session.increment('views')))
  .get('/write', async ({ session }) => {
    session.set('note', 'x')
    await session.regenerate()
    await session.destroy()
    return 'done'
  })
  .options('/', ({ session }) => (session.set('note', 'preflight'), 'ok'))
  .get('/own-cache', ({ session, set }) => {
    set.headers['cache-control'] = 'public, max-age=60'
    return String(session.get('views') ?? 0)
  })
const send = handleWith(app)

describe('HEAD and OPTIONS never write', () => {
  test('HEAD on a fresh client: no record, no Set-Cookie; then GET welcomes it', async () => {
    const c = client(send)
    for (let i = 0; i < 3; i++) {
      const head = await c.request('/', { method: 'HEAD' })
      expect(head.status).toBe(200)
      expect(head.headers.getSetCookie()).toEqual([])
    }
    expect(writes).toEqual([])
    expect(await (await c.request('/')).text()).toBe('1')
  })

  test('HEAD on a returning visitor counts nothing and sends no cookie, even when a touch and a renewal are due', async () => {
    const c = client(send)
    await c.request('/')
    await c.request('/')
    writes.length = 0
    clock.now += 700_000 // past the touch interval and renewAfter
    for (let i = 0; i < 3; i++) {
      const head = await c.request('/', { method: 'HEAD' })
      expect(head.headers.getSetCookie()).toEqual([])
      expect(head.headers.get('cache-control')).toBe('private')
    }
    const headWrite = await c.request('/write', { method: 'HEAD' })
    expect(headWrite.headers.getSetCookie()).toEqual([])
    expect(writes).toEqual([])
    expect(await (await c.request('/')).text()).toBe('3')
  })

  test('OPTIONS does not store what the handler set', async () => {
    writes.length = 0
    const response = await send('/', { method: 'OPTIONS' })
    expect(await response.text()).toBe('ok')
    expect(response.headers.getSetCookie()).toEqual([])
    expect(writes).toEqual([])
  })
})

describe('Cache-Control on responses that depend on the session', () => {
  test('a returning visitor page is private; one that sets the cookie is no-store', async () => {
    const first = await send('/', {})
    expect(first.headers.get('cache-control')).toBe('no-store')
    const again = await send('/', { headers: { cookie: cookieOf(first)! } })
    expect(again.headers.getSetCookie()).toEqual([])
    expect(again.headers.get('cache-control')).toBe('private')
    expect(again.headers.get('vary')).toContain('Cookie')
  })

  test("a handler's own Cache-Control wins where no cookie is set", async () => {
    expect((await send('/own-cache', {})).headers.get('cache-control')).toBe('public, max-age=60')
  })
})
