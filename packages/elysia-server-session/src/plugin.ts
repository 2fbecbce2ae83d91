/**
 * @module plugin
 * The Elysia plugin: `session<T>(options)` gives every route registered after it a typed
 * `session`. It loads in `resolve` and commits in `onAfterHandle`, both scoped to the app that
 * uses it: a commit error there becomes that request's error response (no Set-Cookie), whereas
 * `mapResponse` errors would bypass error handling and `onAfterResponse` runs after the reply.
 * HEAD and OPTIONS requests get a read-only session: their handler runs (Elysia answers HEAD
 * through the GET handler), but nothing it does reaches the store or sets a cookie.
 */
import { Elysia } from 'elysia'
import { eventEmitter } from './audit'
import { createCsrfGuard, isCsrfToken, type CsrfReason } from './csrf'
import { createSessionManager, MAX_COOKIE_CANDIDATES } from './manager'
import { resolveSessionOptions, type SessionOptions } from './options'
import { clientOf, forwardedHttps, isHttps, originOf, readCookies } from './request-info'
import type { Session } from './session'
import type { JsonShape } from './json'
import type { SessionData } from './store'

/**
 * Server-side sessions keyed by a random ID in a signed cookie.
 *
 * @example
 * import { Elysia } from 'elysia'
 * import { session, sqliteStore } from 'elysia-server-session'
 *
 * type Data = { views: number; userId?: string }
 * const app = new Elysia()
 *   .use(session<Data>({ store: sqliteStore({ path: 'sessions.db' }), secrets: [secret] }))
 *   .get('/', async ({ session }) => `views: ${await session.increment('views')}`)
 */
export function session<T extends JsonShape<T> = SessionData>(options: SessionOptions) {
  const resolved = resolveSessionOptions(options)
  const manager = createSessionManager(resolved)
  const { cookieName, secure, hostPrefix, trustProxy, logger, secrets } = resolved
  // With `csrf: false` no origin check runs, but a route's `csrfToken: true` still checks the token.
  const checkOrigin = resolved.csrf !== false
  const csrf = createCsrfGuard(resolved.csrf || {})
  const emit = eventEmitter(resolved)
  let warnedInsecure = false
  let warnedProxy = false
  // Taken once at start rather than from each request's context: a handler that reads `server`
  // makes Elysia define a getter on every request's context. Undefined under `app.handle`.
  let server: Parameters<typeof isHttps>[1]

  /** Whether this request's cookie is Secure, and so its name (`__Host-` prefixed when Secure). */
  const cookieFor = (request: Request) => {
    const https = isHttps(request, server, trustProxy)
    const secureCookie = secure === 'auto' ? https : secure !== false
    return { https, secureCookie, name: secureCookie && hostPrefix ? `__Host-${cookieName}` : cookieName }
  }

  /** The 403 for a refused request, after its audit event. */
  const refuse = (request: Request, reason: CsrfReason) => {
    emit({ type: 'csrf', reason, address: clientOf(request, server, trustProxy).address })
    const body = reason === 'token' ? 'CSRF token missing or invalid' : 'Cross-origin request refused'
    return new Response(body, { status: 403, headers: { 'content-type': 'text/plain; charset=utf-8' } })
  }
  /** Token check of an unsafe request: the header or the `_csrf` form field. */
  const checkToken = ({ request, path, body, session }: { request: Request; path: string; body: unknown; session?: Session<T> }) => {
    const { method } = request
    if (!session || csrf.isSafe(method) || csrf.isExempt(method, path)) return
    const given = request.headers.get('x-csrf-token') || (body as { _csrf?: unknown } | null | undefined)?._csrf
    if (!isCsrfToken(given, session.handle, secrets)) return refuse(request, 'token')
  }

  // The seed must be a string: Elysia dedupes plugins by JSON.stringify(seed), and a store object
  // stringifies to "{}", which would silently drop a second session plugin.
  const base = new Elysia({ name: 'session', seed: cookieName }).onStart((app) => {
    server = app.server
  })
  // Before the session loads: a refused request never reaches the store.
  if (checkOrigin) {
    base.onBeforeHandle({ as: 'scoped' }, ({ request, path }) => {
      const reason = csrf.refusal(request.headers, request.method, path, () => originOf(request, server, trustProxy))
      if (reason) return refuse(request, reason)
    })
  }
  const plugin = base
    .resolve({ as: 'scoped' }, async ({ set, request }) => {
      set.headers.vary = set.headers.vary ? `${set.headers.vary}, Cookie` : 'Cookie'
      // The response depends on the session: no shared cache may keep it (no-store once it sets the cookie).
      set.headers['cache-control'] ??= 'private'
      const client = clientOf(request, server, trustProxy)
      const { https, name } = cookieFor(request)
      if (!https && trustProxy === 0 && !warnedProxy && forwardedHttps(request)) {
        warnedProxy = true
        logger.warn(
          'session: a request says X-Forwarded-Proto: https, but trustProxy is 0, so proxy headers are ignored: cookies are not Secure and every client has the proxy\'s address. Set trustProxy (TRUST_PROXY) to the number of proxies in front of the app.'
        )
      }
      const candidates = readCookies(request.headers.get('cookie'), name, MAX_COOKIE_CANDIDATES)
      // HEAD answers like GET without the body, and OPTIONS asks what is allowed: neither writes.
      const readOnly = request.method === 'HEAD' || request.method === 'OPTIONS'
      return { session: (await manager.load<T>(candidates, client, { readOnly })) as Session<T> }
    })
  // Registered only in token mode: a hook after resolve costs every request about 1.5 µs.
  if (csrf.token) plugin.onBeforeHandle({ as: 'scoped' }, checkToken)
  return plugin
    // A route asks for the token itself with `{ csrfToken: true }`.
    .macro({ csrfToken: { beforeHandle: checkToken } })
    .onAfterHandle({ as: 'scoped' }, async ({ session, set, request }) => {
      // A parent's beforeHandle may answer before resolve ran: then there is nothing to commit.
      if (!session) return
      const { https, secureCookie, name } = cookieFor(request)
      if (secure === true && !https) {
        // A Secure cookie never travels over plain http unless `secure: 'force'` says so; nor is a
        // session stored that no cookie could ever name.
        if (!warnedInsecure) logger.warn('session: secure cookie withheld on a plain http request')
        warnedInsecure = true
        return
      }
      const write = await manager.commit(session)
      if (!write) return
      set.headers['cache-control'] = 'no-store'
      // Into the cookie jar's own store (what `cookie[name].set()` writes to), so that cookies the
      // app sets through the jar and ours are serialised together.
      set.cookie ??= Object.create(null) as NonNullable<typeof set.cookie>
      set.cookie[name] = {
        value: write.value,
        maxAge: write.maxAge,
        path: '/',
        httpOnly: true,
        sameSite: 'lax',
        secure: secureCookie,
      }
    })
}
