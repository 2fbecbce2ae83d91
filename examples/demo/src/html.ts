/**
 * @module html
 * Escaped HTML templates: every interpolated value is escaped unless it is `Html` already.
 */

/** Markup that is safe to insert as it is. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
const escape = (value: unknown) => String(value).replace(/[&<>"']/g, (char) => ESCAPES[char]!)
const render = (value: unknown): string =>
  value instanceof Html ? value.text : Array.isArray(value) ? value.map(render).join('') : value === undefined || value === false ? '' : escape(value)

/**
 * @example
 * html`<p>Hello ${name}</p>` // name is escaped
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  return new Html(strings.reduce((out, part, i) => out + part + (i < values.length ? render(values[i]) : ''), ''))
}

/** The page around every body: a title, a top bar for the signed-in user, and the flash. */
export type PageContext = {
  /** The signed-in user's display name. */
  user?: string
  /** The flash message to show once. */
  notice?: string
  /** The session's CSRF token, for the forms on the page. */
  csrf?: string
}

/** The hidden field that carries the session's CSRF token in a form. */
export const csrfField = (token: string | undefined) => (token ? html`<input type="hidden" name="_csrf" value="${token}">` : '')

export function layout(title: string, body: Html, { user, notice, csrf }: PageContext = {}): Response {
  const page = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · session demo</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #222 }
  nav { display: flex; gap: 1rem; align-items: center; border-bottom: 1px solid #ddd; padding-bottom: .5rem }
  nav form { margin-left: auto }
  .flash { background: #e7f5e9; border: 1px solid #9ccfa3; padding: .5rem 1rem; border-radius: 4px }
  .error { background: #fdecea; border-color: #f1a9a0 }
  label { display: block; margin: .5rem 0 } input[type=text], input[type=password] { width: 16rem }
  table { border-collapse: collapse; width: 100% } td, th { text-align: left; padding: .3rem; border-bottom: 1px solid #eee }
  .muted { color: #777; font-size: .9em } table + form { margin-top: 1rem }
</style></head>
<body>
<nav><a href="/">Home</a>${user ? html`<a href="/account">Account</a><a href="/devices">Devices</a>` : html`<a href="/login">Log in</a>`}
${user ? html`<form method="post" action="/logout">${csrfField(csrf)}<button>Log out ${user}</button></form>` : ''}</nav>
${notice ? html`<p class="flash" role="status">${notice}</p>` : ''}
<h1>${title}</h1>
${body}
</body></html>`
  return new Response(page.text, { headers: { 'content-type': 'text/html; charset=utf-8' } })
}
