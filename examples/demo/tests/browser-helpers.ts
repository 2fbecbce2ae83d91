/**
 * The demo as a real server and Debian's Chromium through playwright-core, for the browser test
 * and the screenshot script: `startDemo()` runs `src/main.ts` on a free port with its own SQLite
 * file; `launchChromium()` starts the browser with no network beyond this machine.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'
export const haveChromium = existsSync(CHROMIUM)
export const DEMO_SECRET = 'demo-browser-secret-0123456789-abcdefgh'

export type Demo = { base: string; stop(): Promise<void> }

/** Starts the demo on 127.0.0.1 and a free port; resolves once its login page answers. */
export async function startDemo(): Promise<Demo> {
  const dir = mkdtempSync(join(tmpdir(), 'demo-browser-'))
  const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = probe.port!
  await probe.stop(true)
  const proc = Bun.spawn(['bun', 'src/main.ts'], {
    cwd: join(import.meta.dir, '..'),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: String(port), HOST: '127.0.0.1', DEMO_DB: join(dir, 'demo.db'), SESSION_SECRET: DEMO_SECRET },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const base = `http://127.0.0.1:${port}`
  const stop = async () => {
    proc.kill('SIGTERM')
    const exited = await Promise.race([proc.exited, Bun.sleep(5_000).then(() => undefined)])
    if (exited === undefined) proc.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  for (const deadline = Date.now() + 15_000; ; await Bun.sleep(50)) {
    try {
      if ((await fetch(`${base}/login`)).ok) return { base, stop }
    } catch {}
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`the demo did not start: ${await new Response(proc.stderr).text()}`)
    }
  }
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    // Without the background-networking flags Chromium dials out, and the closed network refuses it.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 60_000,
  })
}

/** Logs in through the form, as a person would; resolves on the page the login leads to. */
export async function logIn(page: Page, base: string, user: string, password: string, remember: boolean): Promise<void> {
  await page.goto(`${base}/login`)
  await page.getByLabel('User name').fill(user)
  await page.getByLabel('Password').fill(password)
  if (remember) await page.getByLabel('Remember me on this device').check()
  await submit(page, 'Log in')
}

/** Clicks the form's button and resolves once the page the post redirects to has loaded. */
export async function submit(page: Page, button: string): Promise<void> {
  const loaded = page.waitForEvent('load')
  await page.getByRole('button', { name: button }).click()
  await loaded
}

/** The flash on the page, or undefined. */
export async function flashOn(page: Page): Promise<string | undefined> {
  const flash = page.locator('.flash')
  return (await flash.count()) > 0 ? (await flash.innerText()).trim() : undefined
}
