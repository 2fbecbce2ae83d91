/**
 * @module pages
 * The demo's pages, as HTML bodies for `layout`.
 */
import type { SessionSummary } from 'elysia-server-session'
import { csrfField, html, type Html } from './html'

const time = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`

/** A short name for a User-Agent: the browser and the platform, or the raw text when unknown. */
export function deviceName(userAgent: string | undefined): string {
  if (!userAgent) return 'Unknown device'
  const browser = /(Edg|Firefox|Chrome|Safari|curl)\/[\d.]+/.exec(userAgent)?.[0]?.replace(/\/([\d]+)[\d.]*/, ' $1')
  const platform = /\((?:X11; )?([^;)]+)/.exec(userAgent)?.[1]
  return browser ? `${browser}${platform ? ` on ${platform}` : ''}` : userAgent.slice(0, 60)
}

export const homePage = (user: string | undefined) =>
  user
    ? html`<p>You are signed in as <strong>${user}</strong>. See your <a href="/account">account</a> or your <a href="/devices">devices</a>.</p>`
    : html`<p>You are not signed in. <a href="/login">Log in</a> to see your account.</p>`

export const loginPage = (csrf: string, users: readonly { name: string; password: string }[]) => html`
<form method="post" action="/login">
  ${csrfField(csrf)}
  <label>User name <input type="text" name="username" autocomplete="username" required></label>
  <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
  <label><input type="checkbox" name="remember" value="1"> Remember me on this device</label>
  <button>Log in</button>
</form>
<p class="muted">Demo users: ${users.map((user, i) => html`${i > 0 ? ', ' : ''}<code>${user.name}</code> / <code>${user.password}</code>`)}</p>`

export type AccountView = { user: string; subject: string; createdAt: number | undefined; remembered: boolean }

export const accountPage = ({ user, subject, createdAt, remembered }: AccountView) => html`
<p>Hello, <strong>${user}</strong> (<code>${subject}</code>).</p>
<table>
  ${createdAt === undefined ? '' : html`<tr><th>Signed in since</th><td>${time(createdAt)}</td></tr>`}
  <tr><th>Remembered on this device</th><td data-remembered>${remembered ? 'yes' : 'no: the cookie ends with the browser session'}</td></tr>
</table>`

export const devicesPage = (sessions: readonly SessionSummary[], current: string | undefined, csrf: string): Html => html`
<p>Where you are signed in, most recently seen first.</p>
<table>
  <tr><th>Device</th><th>Signed in</th><th>Last seen</th><th>Remembered</th><th></th></tr>
  ${sessions.map(
    (device) => html`<tr data-device>
    <td>${deviceName(device.userAgent)}${device.key === current ? html` <strong>(this device)</strong>` : ''}</td>
    <td>${time(device.createdAt)}</td><td>${time(device.lastSeenAt)}</td><td>${device.remembered ? 'yes' : 'no'}</td>
    <td>${device.key === current ? '' : html`<form method="post" action="/devices/revoke">${csrfField(csrf)}<input type="hidden" name="handle" value="${device.key}"><button>Log out</button></form>`}</td>
  </tr>`
  )}
</table>
<form method="post" action="/devices/others">${csrfField(csrf)}<button>Log out other devices</button></form>`
