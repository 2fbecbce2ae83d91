/**
 * The view counter in a real browser: Debian's Chromium (`/usr/bin/chromium`, installed in CI with
 * `apt-get update && apt-get install -y chromium`) driven through playwright-core against the
 * compiled binary. Counts per browser profile, keeps the session cookie away from scripts
 * (HttpOnly, SameSite=Lax) and starts over after POST /logout.
 *
 * Without Chromium the file is skipped with a notice, except under CI, where it fails.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { buildBinary, startServer, tempDir, SECRET, type Server } from './helpers'

const CHROMIUM = '/usr/bin/chromium'
const haveChromium = existsSync(CHROMIUM)

if (!haveChromium) {
  if (process.env.CI) {
    throw new Error(`${CHROMIUM} is missing: CI must install it (apt-get update && apt-get install -y chromium)`)
  }
  console.warn(
    `\n*** SKIPPING tests/browser.test.ts: ${CHROMIUM} is missing. ` +
      `Install it with: apt-get update && apt-get install -y chromium ***\n`
  )
}

const FIRST = 'Welcome to this page for the first time!'
const times = (n: number) => `You visited this page ${n} times`

describe.skipIf(!haveChromium)('the view counter in Chromium', () => {
  let server: Server | undefined
  let browser: Browser | undefined
  let base = ''

  beforeAll(async () => {
    const cwd = tempDir('browser-test-')
    const binary = await buildBinary()
    server = await startServer([binary], {
      cwd,
      env: { SESSION_DB: join(cwd, 'sessions.db'), SESSION_SECRET: SECRET },
    })
    base = `${server.base}/`
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // Without the background-networking flags Chromium dials out, and the closed network refuses it.
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      timeout: 60_000,
    })
  }, 180_000)

  afterAll(async () => {
    await browser?.close().catch(() => {})
    if (server) {
      server.proc.kill('SIGTERM')
      const exited = await Promise.race([server.proc.exited, Bun.sleep(5_000).then(() => undefined)])
      if (exited === undefined) server.proc.kill('SIGKILL')
    }
  }, 30_000)

  /** The page's body text after a navigation, checked to be a 200. */
  async function visit(page: Page, how: 'goto' | 'reload' = 'goto'): Promise<string> {
    const response = how === 'goto' ? await page.goto(base) : await page.reload()
    const text = (await page.locator('body').innerText()).trim()
    // A failing answer shows its body (the server's own reason), not just the status.
    expect(`${response?.status()} ${response?.status() === 200 ? '' : text}`.trim()).toBe('200')
    return text
  }

  async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser!.newContext()
    context.setDefaultTimeout(15_000)
    return { context, page: await context.newPage() }
  }

  // One profile (browser context) across the tests below, in order.
  let context: BrowserContext
  let page: Page

  test('one profile counts its visits: first time, 2 times, 3 times', async () => {
    ;({ context, page } = await newPage())
    expect(await visit(page)).toBe(FIRST)
    expect(await visit(page, 'reload')).toBe(times(2))
    expect(await visit(page)).toBe(times(3))
  }, 60_000)

  test('the session cookie is HttpOnly and SameSite=Lax: document.cookie cannot read it', async () => {
    const id = (await context.cookies(base)).find((cookie) => cookie.name === 'id')
    expect(id).toBeDefined()
    expect(id!.httpOnly).toBe(true)
    expect(id!.sameSite).toBe('Lax')
    expect(id!.path).toBe('/')
    expect(await page.evaluate('document.cookie')).not.toContain('id=')
  }, 30_000)

  test('a second profile is a new visitor; the first one counts on', async () => {
    const second = await newPage()
    try {
      expect(await visit(second.page)).toBe(FIRST)
      expect(await visit(second.page, 'reload')).toBe(times(2))
    } finally {
      await second.context.close()
    }
    expect(await visit(page, 'reload')).toBe(times(4))
  }, 60_000)

  test('POST /logout from the page clears the cookie; the next visit starts over', async () => {
    // fetch from the page's own origin, so the browser sends the cookie and applies the answer.
    const logout = await page.evaluate(async () => {
      const response = await fetch('/logout', { method: 'POST' })
      return { status: response.status, text: await response.text() }
    })
    expect(logout).toEqual({ status: 200, text: 'Logged out' })
    expect((await context.cookies(base)).find((cookie) => cookie.name === 'id')).toBeUndefined()
    expect(await visit(page)).toBe(FIRST)
    expect(await visit(page, 'reload')).toBe(times(2))
    await context.close()
  }, 60_000)

  test('a form on another site or another port that posts to /logout is refused; the session lives on', async () => {
    // The attacker's page auto-submits a form to the counter: from localhost (another site than
    // 127.0.0.1) and from 127.0.0.1 on another port (same site: the Lax cookie is sent along).
    const target = `${base}logout`
    const attacker = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: () =>
        new Response(`<form method="post" action="${target}"></form><script>document.forms[0].submit()</script>`, {
          headers: { 'content-type': 'text/html' },
        }),
    })
    const victim = await newPage()
    try {
      expect(await visit(victim.page)).toBe(FIRST)
      for (const origin of [`http://localhost:${attacker.port}/`, `http://127.0.0.1:${attacker.port}/`]) {
        const answered = victim.page.waitForResponse(target)
        await victim.page.goto(origin)
        const response = await answered
        expect({ origin, status: response.status(), text: await response.text() }).toEqual({ origin, status: 403, text: 'Cross-origin request refused\n' })
      }
      expect(await visit(victim.page)).toBe(times(2))
    } finally {
      await victim.context.close()
      await attacker.stop(true)
    }
  }, 60_000)
})
