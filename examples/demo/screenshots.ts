/**
 * Takes the README's screenshots of the demo in Chromium: `bun screenshots.ts` (or `bun run
 * screenshots`) in this folder writes `screenshots/*.png`.
 */
import { join } from 'node:path'
import { flashOn, launchChromium, logIn, startDemo, submit } from './tests/browser-helpers'

const out = join(import.meta.dir, 'screenshots')
const demo = await startDemo()
const browser = await launchChromium()
try {
  const viewport = { width: 800, height: 520 }
  // Another device of Alice's first, so that the devices page lists two.
  const phone = await browser.newContext({ viewport, userAgent: 'Mozilla/5.0 (Android 15; Mobile; rv:140.0) Gecko/140.0 Firefox/140.0' })
  await logIn(await phone.newPage(), demo.base, 'alice', 'wonderland', false)

  const laptop = await browser.newContext({ viewport, userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36' })
  const page = await laptop.newPage()
  await page.goto(`${demo.base}/login`)
  await page.getByLabel('User name').fill('alice')
  await page.getByLabel('Password').fill('wonderland')
  await page.getByLabel('Remember me on this device').check()
  await page.screenshot({ path: join(out, 'login.png') })
  await submit(page, 'Log in')
  if ((await flashOn(page)) !== 'Welcome, Alice!') throw new Error('no welcome flash on the account page')
  await page.screenshot({ path: join(out, 'account.png') })
  await page.goto(`${demo.base}/devices`)
  await page.screenshot({ path: join(out, 'devices.png') })
  await submit(page, 'Log out other devices')
  await page.screenshot({ path: join(out, 'devices-after.png') })
  console.log(`screenshots written to ${out}`)
} finally {
  await browser.close()
  await demo.stop()
}
