import { describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { memoryStore, session } from '../src'
import fc from 'fast-check'
import { isIP } from 'node:net'
import { clientOf, originOf, readCookies } from '../src/request-info'
import { SECRET, client, handleWith } from './helpers'

describe('readCookies: the first candidate', () => {
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
    ['id=', undefined], // an empty value is no cookie
    ['other=1; noequals; id=x', 'x'],
    ['ID=upper', undefined],
  ]
  for (const [header, expected] of cases) {
    test(`${JSON.stringify(header)} -> ${JSON.stringify(expected)}`, () => {
      expect(readCookies(header, 'id', 1)).toBe(expected)
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

describe('readCookies: every candidate of our name, bounded', () => {
  const cases: [string | null, number, string | string[] | undefined][] = [
    ['id=abc', 4, 'abc'],
    ['id=first; id=second', 4, ['first', 'second']],
    ['id=first; id=second', 1, 'first'],
    ['xid=0; id=a; other=1; id="b"; id=c%2B; id=d; id=e', 4, ['a', 'b', 'c+', 'd']],
    ['id=; id=x', 4, 'x'],
    ['id=only; idx=1; xid=2', 4, 'only'],
  ]
  for (const [header, limit, expected] of cases) {
    test(`${JSON.stringify(header)} (at most ${limit}) -> ${JSON.stringify(expected)}`, () => {
      expect(readCookies(header, 'id', limit)).toEqual(expected)
    })
  }

  test('property: the candidates are the values named `id`, in order, up to the limit', () => {
    const name = fc.constantFrom('id', 'xid', 'idx', 'other', 'ID')
    const value = fc.string({ unit: 'grapheme-ascii', maxLength: 12 }).map((s) => s.replace(/[;%"\s]/g, ''))
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value), { maxLength: 8 }), fc.integer({ min: 1, max: 5 }), (pairs, limit) => {
        const expected = pairs.filter(([k, v]) => k === 'id' && v !== '').map(([, v]) => v).slice(0, limit)
        const found = readCookies(pairs.map(([k, v]) => `${k}=${v}`).join('; '), 'id', limit)
        expect(found === undefined ? [] : typeof found === 'string' ? [found] : found).toEqual(expected)
      })
    )
  })
})

describe('proxy headers', () => {
  const socket = { requestIP: () => ({ address: '10.0.0.1' }) }
  const request = (xff: string) => new Request('http://localhost/', { headers: { 'x-forwarded-for': xff } })

  test('with a trusted proxy, an X-Forwarded-For entry that is not an IP address is ignored', () => {
    expect(clientOf(request('198.51.100.4'), socket, 1).address).toBe('198.51.100.4')
    expect(clientOf(request('2001:db8::1'), socket, 1).address).toBe('2001:db8::1')
    expect(clientOf(request('evil, 198.51.100.4'), socket, 1).address).toBe('198.51.100.4')
    for (const bad of ['unknown', 'x'.repeat(5000), '<script>', '198.51.100.4:80', '1.2.3', '']) {
      expect(clientOf(request(bad), socket, 1).address).toBe('10.0.0.1')
    }
    expect(clientOf(request('198.51.100.4'), socket, 0).address).toBe('10.0.0.1')
  })

  test('property: any X-Forwarded-For gives an IP address or the socket address, never throws', () => {
    const entry = fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')))
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 6 }).map((parts) => parts.join(', ')), fc.integer({ min: 0, max: 4 }), (xff, trustProxy) => {
        const address = clientOf(request(xff), socket, trustProxy).address!
        expect(address === '10.0.0.1' || isIP(address) !== 0).toBe(true)
        if (trustProxy === 0) expect(address).toBe('10.0.0.1')
      })
    )
  })

  test('X-Forwarded-Proto: https with trustProxy 0 warns once, naming TRUST_PROXY', async () => {
    const warnings: string[] = []
    const app = new Elysia()
      .use(session({ store: memoryStore({ pruneIntervalMs: 0 }), secrets: [SECRET], logger: { warn: (m) => warnings.push(m), error: () => {} } }))
      .get('/', ({ session }) => (session.set('views', 1), 'ok'))
    const send = handleWith(app)
    await send('/', {})
    expect(warnings).toEqual([])
    for (let i = 0; i < 3; i++) await send('/', { headers: { 'x-forwarded-proto': 'https' } })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('TRUST_PROXY')
    expect(warnings[0]).toContain('trustProxy')
  })
})

describe('originOf: the request origin the CSRF check compares Origin with', () => {
  const https = { requestIP: () => null, protocol: 'https' }
  const cases: [string, Record<string, string>, typeof https | undefined, number, string | undefined][] = [
    ['http://localhost/x', {}, undefined, 0, 'http://localhost'],
    ['http://localhost:3000/x', {}, undefined, 0, 'http://localhost:3000'],
    ['http://shop.example/x', {}, https, 0, 'https://shop.example'],
    ['http://shop.example:443/x', {}, https, 0, 'https://shop.example'],
    ['http://backend:3000/x', { 'x-forwarded-host': 'shop.example', 'x-forwarded-proto': 'https' }, undefined, 0, 'http://backend:3000'],
    ['http://backend:3000/x', { 'x-forwarded-host': 'shop.example', 'x-forwarded-proto': 'https' }, undefined, 1, 'https://shop.example'],
    ['http://backend:3000/x', { 'x-forwarded-host': 'evil.example, Shop.Example:8443' }, undefined, 1, 'http://shop.example:8443'],
    ['http://backend:3000/x', { 'x-forwarded-host': '' }, undefined, 1, 'http://backend:3000'],
    ['http://backend:3000/x', { 'x-forwarded-host': 'shop.example/path' }, undefined, 1, undefined],
    ['http://backend:3000/x', { 'x-forwarded-host': 'user@shop.example' }, undefined, 1, undefined],
    ['http://backend:3000/x', { 'x-forwarded-host': 'shop.example:99999' }, undefined, 1, undefined],
  ]
  for (const [url, headers, server, trustProxy, expected] of cases) {
    test(`${url} ${JSON.stringify(headers)} trustProxy=${trustProxy} -> ${expected}`, () => {
      expect(originOf(new Request(url, { headers }), server, trustProxy)).toBe(expected)
    })
  }
})
