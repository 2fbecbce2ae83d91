/**
 * @module plugin
 * The Elysia plugin: `session<T>(options)` or `session({ schema })` gives every route registered
 * after it a typed `session`. It loads in `resolve` and commits in `onAfterHandle`: a commit error
 * there becomes that request's error response (no Set-Cookie), whereas `mapResponse` errors would
 * bypass error handling and `onAfterResponse` runs after the reply.
 *
 * Its hooks are global, so the usual Elysia layout works: a named setup plugin that uses it gives
 * the routes of the app that uses the setup plugin their session (types included). Routes
 * registered before the `.use()` never load a session, and a `group` keeps one inside it.
 * HEAD and OPTIONS requests get a read-only session: their handler runs (Elysia answers HEAD
 * through the GET handler), but nothing it does reaches the store or sets a cookie.
 */
import { Elysia, status } from 'elysia'
import { eventEmitter } from './audit'
import { createCsrfGuard, isCsrfToken, type CsrfReason } from './csrf'
import { createSessionManager, MAX_COOKIE_CANDIDATES } from './manager'
import { SessionCsrfError, SessionError, SessionRequiredError } from './errors'
import { resolveSessionOptions, type SessionOptions } from './options'
import { acceptsJson, clientOf, forwardedHttps, isHttps, originOf, readCookies } from './request-info'
import type { SchemaData, SessionSchema } from './schema'
import type { FlashMessages } from './flash'
import type { Session } from './session'
import type { JsonShape } from './json'
import type { SessionData } from './store'

const sentAsIs = (value: string) => value

/**
 * The Elysia plugin `session()` returns, for data of type `T`. A schema of data that is not JSON
 * gives a type that `.use()` refuses, and the compile error names the reason.
 */
export type SessionPlugin<T, F extends JsonShape<F> = FlashMessages> = T extends JsonShape<T>
  ? ReturnType<typeof sessionPlugin<T, F>>
  : { readonly 'session data must be JSON (no Date, Map, Set, bigint or functions)': T }

/** A schema's session data type; `SessionData` for a schema whose type is not known (`SessionSchema`). */
type SchemaSessionData<S> = unknown extends SchemaData<S> ? SessionData : SchemaData<S>

/** The session in a route with the `{ session: 'subject' }` option: bound to a subject. */
export type SignedInSession<T extends JsonShape<T> = SessionData, F extends JsonShape<F> = FlashMessages> = Session<T, F> & { readonly subject: string }

/**
 * Server-side sessions keyed by a random ID in a signed cookie.
 *
 * The session's type comes from `schema` (TypeBox `t` or a Standard Schema such as Zod or
 * Valibot), which also checks stored data on load; or, without one, from `session<T>()`.
 * A route with the `{ session: 'subject' }` option answers 401 (`SESSION_REQUIRED`, JSON when the
 * client accepts it) unless the session is bound to a subject, and its handler sees
 * `session.subject` as a `string`; the option works on a route, a `group` and a `guard`.
 * Session errors answer in JSON (`{ "error": code, "message" }`) when the client accepts JSON.
 *
 * @example
 * import { Elysia, t } from 'elysia'
 * import { session, sqliteStore } from 'elysia-server-session'
 *
 * const app = new Elysia()
 *   .use(session({
 *     schema: t.Object({ views: t.Number(), userId: t.Optional(t.String()) }),
 *     store: sqliteStore({ path: 'sessions.db' }),
 *     secrets: [secret],
 *   }))
 *   .get('/', async ({ session }) => `views: ${await session.increment('views')}`)
 *   .get('/account', ({ session }) => `signed in as ${session.subject}`, { session: 'subject' })
 */
export function session<S extends SessionSchema>(options: Omit<SessionOptions, 'schema'> & { schema: S }): SessionPlugin<SchemaSessionData<S>>
export function session<T extends JsonShape<T> = SessionData, F extends JsonShape<F> = FlashMessages>(options: SessionOptions): SessionPlugin<T, F>
export function session(options: SessionOptions): SessionPlugin<SessionData> {
  return sessionPlugin(options)
}

function sessionPlugin<T extends JsonShape<T>, F extends JsonShape<F> = FlashMessages>(options: SessionOptions) {
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

  /** The 403 for a refused request, after its audit event; in JSON for a client that accepts JSON, as every session error. */
  const refuse = (request: Request, reason: CsrfReason) => {
    emit({ type: 'csrf', reason, address: clientOf(request, server, trustProxy).address })
    return new SessionCsrfError(reason === 'token' ? 'token' : 'origin').toResponse(acceptsJson(request) ? 'json' : 'text')
  }
  /** Token check of an unsafe request: the header or the `_csrf` form field. */
  const checkToken = ({ request, path, body, session }: { request: Request; path: string; body: unknown; session?: Session<T, F> }) => {
    const { method } = request
    if (!session || csrf.isSafe(method) || csrf.isExempt(method, path)) return
    const given = request.headers.get('x-csrf-token') || (body as { _csrf?: unknown } | null | undefined)?._csrf
    if (!isCsrfToken(given, session.handle, secrets)) return refuse(request, 'token')
  }

  // The seed must be a string: Elysia dedupes plugins by JSON.stringify(seed), and a store object
  // stringifies to "{}", which would silently drop a second session plugin.
  const plugin = new Elysia({ name: 'elysia-server-session', seed: cookieName })
    .onStart((app) => {
      server = app.server
    })
    .resolve({ as: 'global' }, async ({ set, request, path }) => {
      // Before the session loads, so a refused request never reaches the store; here rather than in
      // a hook of its own, whose call every request would pay.
      const reason = checkOrigin && csrf.refusal(request.headers, request.method, path, () => originOf(request, server, trustProxy))
      // Typed `never`: the answer ends the request, and its type would otherwise name Elysia internals in the .d.ts.
      if (reason) return status(403, refuse(request, reason)) as never
      const vary = set.headers.vary
      // Once, also when a second session plugin (another cookie) runs on the same route.
      if (!vary) set.headers.vary = 'Cookie'
      else if (!/\bCookie\b/i.test(vary)) set.headers.vary = `${vary}, Cookie`
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
      return { session: (await manager.load<T>(candidates, client, { readOnly })) as unknown as Session<T, F> }
    })
  // Registered only in token mode: a hook after resolve costs every request about 1.5 µs.
  if (csrf.token) plugin.onBeforeHandle({ as: 'global' }, checkToken)
  return plugin
    // A route asks for the token itself with `{ csrfToken: true }`.
    .macro({ csrfToken: { beforeHandle: checkToken } })
    .onAfterHandle({ as: 'global' }, async ({ session, set, request }) => {
      // A parent's beforeHandle may answer before resolve ran: then there is nothing to commit.
      if (!session) return
      if (secure === true && !isHttps(request, server, trustProxy)) {
        // A Secure cookie never travels over plain http unless `secure: 'force'` says so; nor is a
        // session stored that no cookie could ever name.
        if (!warnedInsecure) logger.warn('session: secure cookie withheld on a plain http request')
        warnedInsecure = true
        return
      }
      const write = await manager.commit(session)
      if (!write) return
      const { secureCookie, name } = cookieFor(request)
      set.headers['cache-control'] = 'no-store'
      // Into the cookie jar's own store (what `cookie[name].set()` writes to), so that cookies the
      // app sets through the jar and ours are serialised together.
      set.cookie ??= Object.create(null) as NonNullable<typeof set.cookie>
      set.cookie[name] = {
        value: write.value,
        // None for a browser-session cookie (`browserSessionCookie`, a session not remembered).
        ...(write.maxAge !== undefined && { maxAge: write.maxAge }),
        path: '/',
        httpOnly: true,
        sameSite: 'lax',
        secure: secureCookie,
        // Handed to the cookie serialiser: a signed ID is cookie-safe as it is (base64url, `.`,
        // base64's `+` and `/`), so it is sent unescaped and read back without decoding.
        encode: sentAsIs,
      } as NonNullable<typeof set.cookie>[string]
    })
    .macro({
      /** `{ session: 'subject' }`: the route needs a session bound to a subject, else 401. */
      session: (requirement: 'subject') => ({
        // Typed narrowly so the .d.ts does not spell out Elysia's context; `request` keeps the type
        // from being a weak (all-optional) type, which a consumer's checker would refuse.
        resolve({ session }: { session?: Session<T, F>; request: Request }) {
          if (requirement !== 'subject' || session?.subject === undefined) throw new SessionRequiredError()
          return { session: session as SignedInSession<T, F> }
        },
      }),
    })
    // A session error's text answer becomes JSON for a client that accepts JSON.
    .mapResponse({ as: 'global' }, (context) => {
      const { error, request } = context as typeof context & { error?: unknown }
      if (error instanceof SessionError && acceptsJson(request)) return error.toResponse('json')
    })
}
