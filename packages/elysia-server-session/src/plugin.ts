/**
 * @module plugin
 * The Elysia plugin: `session<T>(options)` gives every route registered after it a typed
 * `session`. It loads in `resolve` and commits in `onAfterHandle`, both scoped to the app that
 * uses it: a commit error there becomes that request's error response (no Set-Cookie), whereas
 * `mapResponse` errors would bypass error handling and `onAfterResponse` runs after the reply.
 */
import { Elysia } from 'elysia'
import { createSessionManager } from './manager'
import { resolveSessionOptions, type SessionOptions } from './options'
import { clientOf, isHttps, readCookie } from './request-info'
import type { Session } from './session'
import type { SessionData } from './store'

/**
 * Server-side sessions keyed by a random ID in a signed cookie.
 *
 * @example
 * import { Elysia } from 'elysia'
 * import { session, sqliteStore } from './session'
 *
 * type Data = { views: number; userId?: string }
 * const app = new Elysia()
 *   .use(session<Data>({ store: sqliteStore({ path: 'sessions.db' }), secrets: [secret] }))
 *   .get('/', async ({ session }) => `views: ${await session.increment('views')}`)
 */
export function session<T extends SessionData = SessionData>(options: SessionOptions) {
  const resolved = resolveSessionOptions(options)
  const manager = createSessionManager(resolved)
  const { cookieName, secure, hostPrefix, trustProxy, logger } = resolved
  let warnedInsecure = false
  // Taken once at start rather than from each request's context: a handler that reads `server`
  // makes Elysia define a getter on every request's context. Undefined under `app.handle`.
  let server: Parameters<typeof isHttps>[1]

  /** Whether this request's cookie is Secure, and so its name (`__Host-` prefixed when Secure). */
  const cookieFor = (request: Request) => {
    const https = isHttps(request, server, trustProxy)
    const secureCookie = secure === 'auto' ? https : secure !== false
    return { https, secureCookie, name: secureCookie && hostPrefix ? `__Host-${cookieName}` : cookieName }
  }

  // The seed must be a string: Elysia dedupes plugins by JSON.stringify(seed), and a store object
  // stringifies to "{}", which would silently drop a second session plugin.
  return new Elysia({ name: 'session', seed: cookieName })
    .onStart((app) => {
      server = app.server
    })
    .resolve({ as: 'scoped' }, async ({ set, request }) => {
      set.headers.vary = set.headers.vary ? `${set.headers.vary}, Cookie` : 'Cookie'
      const client = clientOf(request, server, trustProxy)
      const value = readCookie(request.headers.get('cookie'), cookieFor(request).name)
      return { session: (await manager.load<T>(value, client)) as Session<T> }
    })
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
