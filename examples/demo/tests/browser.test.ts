/**
 * The demo in a real browser: Debian's Chromium (`/usr/bin/chromium`) through playwright-core
 * against the demo server. Logs in with and without remember me, sees the flash once (not after
 * a reload), the account page, a form on another origin refused, and "log out other devices"
 * from a second browser profile.
 *
 * Without Chromium the file is skipped with a notice, except under CI, where it fails.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, BrowserContext } from 'playwright-core'
import { CHROMIUM, flashOn, haveChromium, launchChromium, logIn, startDemo, submit, type Demo } from './browser-helpers'

if (!haveChromium) {
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing: CI must install it (apt-get update && apt-get install -y chromium)`)
  console.warn(`\n*** SKIPPING examples/demo/tests/browser.test.ts: ${CHROMIUM} is missing. Install it with: apt-get install -y chromium ***\n`)
}

describe.skipIf(!haveChromium)('the demo in Chromium', () => {
  let demo: Demo | undefined
  let browser: Browser | undefined
  let base = ''
  beforeAll(async () => {
    demo = await startDemo()
    base = demo.base
    browser = await launchChromium()
  }, 120_000)
  afterAll(async () => {
    await browser?.close().catch(() => {})
    await demo?.stop()
  }, 30_000)

  const profile = async (): Promise<BrowserContext> => {
    const context = await browser!.newContext()
    context.setDefaultTimeout(15_000)
    return context
  }
  const sessionCookie = async (context: BrowserContext) => (await context.cookies(base)).find((cookie) => cookie.name === 'id')

  // The first profile: Alice without remember me, on through the tests below.
  let laptop: BrowserContext

  test('log in without remember me: the flash once, the account page, a cookie that ends with the browser', async () => {
    laptop = await profile()
    const page = await laptop.newPage()
    const refused = await page.goto(`${base}/account`)
    expect(new URL(refused!.url()).pathname).toBe('/login')
    await logIn(page, base, 'alice', 'wonderland', false)
    expect(page.url()).toBe(`${base}/account`)
    expect(await flashOn(page)).toBe('Welcome, Alice!')
    expect(await page.locator('h1').innerText()).toBe('Your account')
    expect(await page.locator('[data-remembered]').innerText()).toStartWith('no')
    await page.reload()
    expect(await flashOn(page)).toBeUndefined()
    expect(await page.locator('h1').innerText()).toBe('Your account')
    const cookie = await sessionCookie(laptop)
    expect(cookie?.expires).toBe(-1) // a browser-session cookie: no Max-Age, no Expires
    expect(cookie?.httpOnly).toBe(true)
  }, 60_000)

  test('log in with remember me (a second profile): a cookie for 14 days; logout flashes once', async () => {
    const phone = await profile()
    try {
      const page = await phone.newPage()
      await logIn(page, base, 'bob', 'builder', true)
      expect(await flashOn(page)).toBe('Welcome, Bob!')
      expect(await page.locator('[data-remembered]').innerText()).toBe('yes')
      const days = ((await sessionCookie(phone))!.expires - Date.now() / 1000) / 86_400
      expect(days).toBeGreaterThan(13.9)
      expect(days).toBeLessThanOrEqual(14)
      await submit(page, 'Log out Bob')
      expect(page.url()).toBe(`${base}/`)
      expect(await flashOn(page)).toBe('You are logged out.')
      await page.reload()
      expect(await flashOn(page)).toBeUndefined()
      expect(await page.locator('body').innerText()).toContain('You are not signed in')
    } finally {
      await phone.close()
    }
  }, 60_000)

  test('a form on another origin that posts to the demo is refused; the session lives on', async () => {
    // The attacker's page (127.0.0.1 on another port: same site, so the Lax cookie goes along)
    // auto-submits "log out other devices" to the demo.
    const target = `${base}/devices/others`
    const attacker = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: () => new Response(`<form method="post" action="${target}"></form><script>document.forms[0].submit()</script>`, { headers: { 'content-type': 'text/html' } }),
    })
    const page = await laptop.newPage()
    try {
      const answered = page.waitForResponse(target)
      await page.goto(`http://127.0.0.1:${attacker.port}/`)
      const response = await answered
      expect([response.status(), await response.text()]).toEqual([403, 'Cross-origin request refused\n'])
      await page.goto(`${base}/account`)
      expect(await page.locator('h1').innerText()).toBe('Your account')
    } finally {
      await page.close()
      await attacker.stop(true)
    }
  }, 60_000)

  test('log out other devices from a second profile: the first one is signed out, this one stays', async () => {
    const desktop = await profile()
    try {
      const page = await desktop.newPage()
      await logIn(page, base, 'alice', 'wonderland', true)
      await page.goto(`${base}/devices`)
      const rows = page.locator('tr[data-device]')
      expect(await rows.count()).toBe(2)
      expect(await rows.filter({ hasText: '(this device)' }).locator('td').nth(3).innerText()).toBe('yes')
      await submit(page, 'Log out other devices')
      expect(await flashOn(page)).toBe('Logged out 1 other device.')
      expect(await rows.count()).toBe(1)
      const first = await laptop.newPage()
      await first.goto(`${base}/account`)
      expect(new URL(first.url()).pathname).toBe('/login')
      await page.reload()
      expect(await page.locator('h1').innerText()).toBe('Your devices')
    } finally {
      await desktop.close()
      await laptop.close()
    }
  }, 60_000)
})
