/**
 * The demo over `app.handle` with a real SQLite file: login with and without remember me, the
 * flash once, pages for signed-in users only, forms that need the session's token, devices.
 */
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sqliteStore } from 'elysia-server-session'
import { cookieClient, handleWith } from 'elysia-server-session/testing'
import { createDemoApp } from '../src/app'

const dir = mkdtempSync(join(tmpdir(), 'demo-app-'))
const store = sqliteStore({ path: join(dir, 'demo.db'), pruneIntervalMs: 0 })
afterAll(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})
const send = handleWith(await createDemoApp({ store, secrets: ['demo-test-secret-0123456789-abcdefghij'] }))

/** A browser: keeps the cookie, reads the form's CSRF token, posts forms as same-origin. */
function browser(userAgent = 'TestBrowser/1') {
  const jar = cookieClient((path, init) => send(path, { ...init, headers: { ...Object.fromEntries(new Headers(init.headers)), 'user-agent': userAgent } }))
  let token = ''
  const page = async (path: string) => {
    const response = await jar.request(path)
    const text = await response.text()
    token = /name="_csrf" value="([^"]+)"/.exec(text)?.[1] ?? token
    return { status: response.status, location: response.headers.get('location'), text }
  }
  const post = async (path: string, form: Record<string, string> = {}, headers: Record<string, string> = { 'sec-fetch-site': 'same-origin' }) => {
    const body = new URLSearchParams({ _csrf: token, ...form })
    const response = await jar.request(path, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } })
    return { status: response.status, location: response.headers.get('location'), cookie: response.headers.getSetCookie()[0] ?? '', text: await response.text() }
  }
  return { jar, page, post }
}
const flashOf = (text: string) => /<p class="flash" role="status">([^<]*)<\/p>/.exec(text)?.[1]

test('login without remember me: a browser-session cookie, the welcome flash once, the account page', async () => {
  const alice = browser()
  expect((await alice.page('/account')).location).toBe('/login')
  await alice.page('/login')
  const login = await alice.post('/login', { username: 'alice', password: 'wonderland' })
  expect([login.status, login.location]).toEqual([303, '/account'])
  expect(login.cookie).not.toMatch(/Max-Age/)
  const account = await alice.page('/account')
  expect(account.status).toBe(200)
  expect(flashOf(account.text)).toBe('Welcome, Alice!')
  expect(account.text).toContain('no: the cookie ends with the browser session')
  expect(flashOf((await alice.page('/account')).text)).toBeUndefined()
  const logout = await alice.post('/logout')
  expect([logout.status, logout.location]).toEqual([303, '/'])
  expect(flashOf((await alice.page('/')).text)).toBe('You are logged out.')
  expect((await alice.page('/account')).location).toBe('/login')
})

test('login with remember me: a cookie with the long Max-Age; a wrong password flashes an error', async () => {
  const bob = browser()
  await bob.page('/login')
  expect((await bob.post('/login', { username: 'bob', password: 'nope' })).location).toBe('/login')
  expect(flashOf((await bob.page('/login')).text)).toBe('Wrong user name or password.')
  const login = await bob.post('/login', { username: 'bob', password: 'builder', remember: '1' })
  expect(login.cookie).toContain(`Max-Age=${14 * 86_400}`)
  expect((await bob.page('/account')).text).toContain('<td data-remembered>yes</td>')
})

test('forms need the token and a same-origin post: another site, or no token, is refused', async () => {
  const carol = browser()
  await carol.page('/login')
  expect((await carol.post('/login', { username: 'alice', password: 'wonderland' }, { 'sec-fetch-site': 'cross-site' })).status).toBe(403)
  expect((await carol.post('/login', { username: 'alice', password: 'wonderland', _csrf: 'x'.repeat(43) })).status).toBe(403)
  expect((await carol.post('/login', { username: 'alice', password: 'wonderland' })).status).toBe(303)
})

test('devices: every session of the user, remembered marked; log out other devices keeps this one', async () => {
  const [laptop, phone, bob] = [browser('Laptop/1 (X11; Linux)'), browser('Phone/2 (Android)'), browser()]
  for (const [who, name, password, remember] of [[laptop, 'alice', 'wonderland', '1'], [phone, 'alice', 'wonderland', ''], [bob, 'bob', 'builder', '']] as const) {
    await who.page('/login')
    await who.post('/login', { username: name, password, remember })
  }
  const devices = await laptop.page('/devices')
  expect(devices.text).toContain('(this device)')
  expect(devices.text.match(/<tr data-device>/g)!.length).toBeGreaterThanOrEqual(2)
  const others = await laptop.post('/devices/others')
  expect(others.location).toBe('/devices')
  expect(flashOf((await laptop.page('/devices')).text)).toMatch(/^Logged out \d+ other devices?\.$/)
  expect((await laptop.page('/devices')).text.match(/<tr data-device>/g)).toHaveLength(1)
  expect((await phone.page('/account')).location).toBe('/login')
  expect((await bob.page('/account')).status).toBe(200)
})
