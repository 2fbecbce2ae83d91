import { describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { memoryStore, session } from '../src'
import { readCookie } from '../src/request-info'
import { SECRET, client, handleWith } from './helpers'

describe('readCookie', () => {
  const cases: [string | null, string | undefined][] = [
    [null, undefined],
    ['', undefined],
    ['id=abc', 'abc'],
    ['xid=1; id=2; idx=3', '2'],
    ['  id  =  spaced  ; other=1', 'spaced'],
    ['id=first; id=second', 'first'],
    ['id="quoted"', 'quoted'],
    ['id=a%2Bb%2F%3D', 'a+b/='],
    ['id=%E0%A4%A', '%E0%A4%A'],
    ['id=', ''],
    ['other=1; noequals; id=x', 'x'],
    ['ID=upper', undefined],
  ]
  for (const [header, expected] of cases) {
    test(`${JSON.stringify(header)} -> ${JSON.stringify(expected)}`, () => {
      expect(readCookie(header, 'id')).toBe(expected)
    })
  }
})

describe("the session cookie beside the app's own cookies", () => {
  const app = new Elysia()
    .use(session<{ views: number }>({ store: memoryStore({ pruneIntervalMs: 0 }), secrets: [SECRET] }))
    .get('/', async ({ session, cookie }) => {
      cookie.theme!.set({ value: 'dark', path: '/' })
      return String(await session.increment('views'))
    })
    .get('/redirect', async ({ session, redirect }) => {
      await session.increment('views')
      return redirect('/', 302)
    })
    .get('/response', async ({ session }) => {
      await session.increment('views')
      return new Response('raw', { headers: { 'x-own': '1' } })
    })

  test('a cookie set through the jar and the session cookie are both sent', async () => {
    const response = await handleWith(app)('/', {})
    const names = response.headers.getSetCookie().map((c) => c.split('=')[0])
    expect(names.toSorted()).toEqual(['id', 'theme'])
  })

  test('redirects and raw Responses carry the session cookie, and the session counts on', async () => {
    const c = client(handleWith(app))
    const redirected = await c.request('/redirect')
    expect(redirected.status).toBe(302)
    expect(redirected.headers.get('location')).toBe('/')
    expect(redirected.headers.getSetCookie()[0]).toStartWith('id=')
    const raw = await handleWith(app)('/response', {})
    expect(raw.headers.get('x-own')).toBe('1')
    expect(raw.headers.getSetCookie()[0]).toStartWith('id=')
    expect(await (await c.request('/')).text()).toBe('2')
  })
})
