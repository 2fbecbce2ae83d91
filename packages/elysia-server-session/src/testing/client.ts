/**
 * @module testing/client
 * A cookie-keeping client for tests of an app that uses the session plugin, over `app.handle`
 * or `fetch`: it sends back the last session cookie it was given, as a browser would.
 */

/** `name=value` of the first Set-Cookie, for the next request's Cookie header. */
export function cookieOf(response: Response): string | undefined {
  return response.headers.getSetCookie()[0]?.split(';')[0]
}

/**
 * @example
 * const browser = cookieClient(handleWith(app))
 * await browser.request('/') // first visit: a cookie is set
 * await browser.request('/') // sent back
 */
export function cookieClient(send: (path: string, init: RequestInit) => Promise<Response>) {
  let cookie: string | undefined
  return {
    get cookie() {
      return cookie
    },
    set cookie(value) {
      cookie = value
    },
    async request(path: string, init: RequestInit = {}) {
      const headers = new Headers(init.headers)
      if (cookie) headers.set('cookie', cookie)
      const response = await send(path, { ...init, headers })
      const next = response.headers.getSetCookie()[0]
      if (next) cookie = /Max-Age=0/.test(next) ? undefined : next.split(';')[0]
      return response
    },
  }
}

/** `app.handle` with the `http://localhost` URL Elysia routes need. */
export const handleWith =
  (app: { handle(request: Request): Promise<Response> }) => (path: string, init: RequestInit) =>
    app.handle(new Request(`http://localhost${path}`, init))
