/**
 * @module errors
 * Errors the session layer throws. Each knows its HTTP answer (`toResponse`, which Elysia calls),
 * so a store fault is a clear 503 for that request and never a silently dropped write. Each has a
 * stable `code` (`SESSION_STORE_UNAVAILABLE`, ...) that JSON APIs can branch on: the session
 * plugin answers a client that accepts JSON with `{ "error": code, "message": ... }` instead of
 * the text body, with the same status and headers.
 */

/** An error answer in the format the client asked for: JSON `{ error, message }`, else text. */
function errorResponse(status: number, code: string, message: string, json: boolean, headers: Record<string, string> = {}): Response {
  const common = { 'cache-control': 'no-store', ...headers }
  return json
    ? Response.json({ error: code, message }, { status, headers: common })
    : new Response(message + '\n', { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...common } })
}

/** What every session error has: a stable `code`, an HTTP status, and the answer to send. */
export abstract class SessionError extends Error {
  abstract readonly code: string
  abstract readonly status: number
  /** What the client is told (never the internal message, which may name keys or engines). */
  protected abstract readonly publicMessage: string
  protected readonly headers: Record<string, string> = {}
  /** The answer Elysia sends: text, or JSON for `format: 'json'`. */
  toResponse(format: 'text' | 'json' = 'text'): Response {
    return errorResponse(this.status, this.code, this.publicMessage, format === 'json', this.headers)
  }
}

type Fault = { code: SessionStoreError['code']; status: 503 | 500; message: string; retryAfter?: string }
const FULL: Fault = { code: 'SESSION_STORE_FULL', status: 503, message: 'Session storage is full; nothing was saved. Please retry later.', retryAfter: '30' }
const BUSY: Fault = { code: 'SESSION_STORE_BUSY', status: 503, message: 'Session storage is busy; nothing was saved. Please retry shortly.', retryAfter: '1' }
const UNAVAILABLE: Fault = { code: 'SESSION_STORE_UNAVAILABLE', status: 503, message: 'Session storage is unavailable; nothing was saved. Please retry shortly.', retryAfter: '1' }
/** Retrying would fail the same way: a 500, no Retry-After. */
const REFUSED: Fault = { code: 'SESSION_STORE_REFUSED', status: 500, message: 'Session storage refused the write; nothing was saved.' }

/** What a client is told for an engine fault, by the engine's error code. */
const STORE_FAULTS: Record<string, Fault> = { SQLITE_FULL: FULL, SQLITE_BUSY: BUSY }

/** PostgreSQL server errors by SQLSTATE, then by class (its first two characters); the rest are unavailable. */
const POSTGRES_FAULTS: Record<string, Fault> = {
  '53100': FULL, // disk_full
  '53': BUSY, // insufficient resources (too many connections, out of memory)
  '40': BUSY, // serialization failure, deadlock
  '55P03': BUSY, // lock_not_available
  '23': REFUSED, // integrity constraint violation
}

function faultOf(cause: unknown): Fault {
  const { code, errno } = (cause ?? {}) as { code?: unknown; errno?: unknown }
  if (code === 'ERR_POSTGRES_SERVER_ERROR') {
    const state = String(errno ?? '')
    return POSTGRES_FAULTS[state] ?? POSTGRES_FAULTS[state.slice(0, 2)] ?? UNAVAILABLE
  }
  return STORE_FAULTS[String(code ?? '')] ?? UNAVAILABLE
}

/**
 * The store could not answer or could not write (a system fault). Nothing was saved. `code` is
 * `SESSION_STORE_FULL` or `SESSION_STORE_BUSY` when the engine's fault says so, else
 * `SESSION_STORE_UNAVAILABLE`: a 503 with `Retry-After`. When the engine refused the write for good
 * (a constraint violation), `SESSION_STORE_REFUSED`: a 500 without `Retry-After`.
 */
export class SessionStoreError extends SessionError {
  static readonly code = 'SESSION_STORE_UNAVAILABLE'
  override name = 'SessionStoreError'
  readonly code: 'SESSION_STORE_UNAVAILABLE' | 'SESSION_STORE_FULL' | 'SESSION_STORE_BUSY' | 'SESSION_STORE_REFUSED'
  readonly status: 503 | 500
  protected readonly publicMessage: string
  protected override readonly headers: Record<string, string>
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    const fault = faultOf(this.cause)
    this.code = fault.code
    this.status = fault.status
    this.publicMessage = fault.message
    this.headers = fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}
  }
}

/** The session's serialised data would exceed the configured maximum. Nothing was saved. */
export class SessionTooLargeError extends SessionError {
  static readonly code = 'SESSION_TOO_LARGE'
  override name = 'SessionTooLargeError'
  readonly code = SessionTooLargeError.code
  readonly status = 500
  protected readonly publicMessage = 'Session data is too large to save; nothing was saved.'
  constructor(
    readonly bytes: number,
    readonly maxBytes: number
  ) {
    super(`session data is ${bytes} bytes, over the limit of ${maxBytes}`)
  }
}

/**
 * A value the session cannot store: one JSON cannot hold (the message names the key and where in
 * it), or an atomic operation on the wrong type (`increment` on a string). A programming error:
 * nothing was saved, and no store was asked.
 */
export class SessionValueError extends SessionError {
  static readonly code = 'SESSION_VALUE_TYPE'
  override name = 'SessionValueError'
  readonly code = SessionValueError.code
  readonly status = 500
  constructor(
    message: string,
    /** The session key whose value could not be stored, when known. */
    readonly key?: string
  ) {
    super(message)
  }
  protected get publicMessage(): string {
    const what = this.key === undefined ? 'Session value' : `Session value ${JSON.stringify(this.key)}`
    return `${what} has the wrong type or is not JSON; nothing was saved.`
  }
}

/**
 * A session was changed after its commit (a streaming handler's body, a timer): the change could
 * never be saved, so it fails loudly instead. The message names the call and the key.
 */
export class SessionCommittedError extends SessionError {
  static readonly code = 'SESSION_COMMITTED'
  override name = 'SessionCommittedError'
  readonly code = SessionCommittedError.code
  readonly status = 500
  protected readonly publicMessage = 'Session changed after the response started; nothing was saved.'
  constructor(call: string, key?: string) {
    const what = key === undefined ? `session.${call}()` : `session.${call}(${JSON.stringify(key)})`
    super(`${what} after the session was committed: the change would be lost (change the session before the response starts)`)
  }
}

/**
 * `setSubject()` through an old ID inside its renewal grace window: whoever holds an old ID may
 * finish a request with it, but never bind the session to a user. A retry carries the new ID.
 */
export class SessionOldIdError extends SessionError {
  static readonly code = 'SESSION_OLD_ID'
  override name = 'SessionOldIdError'
  readonly code = SessionOldIdError.code
  readonly status = 409
  protected readonly publicMessage = 'Your session was renewed by another request; nothing was saved. Please retry.'
  constructor(call: string) {
    super(`session.${call}() through an old session ID (renewed by another request) is refused`)
  }
}

/**
 * A route that needs a signed-in session (the `{ session: 'subject' }` route option) was asked
 * by a request whose session is bound to no subject: 401, and the handler does not run.
 */
export class SessionRequiredError extends SessionError {
  static readonly code = 'SESSION_REQUIRED'
  override name = 'SessionRequiredError'
  readonly code = SessionRequiredError.code
  readonly status = 401
  protected readonly publicMessage = 'This page needs a signed-in session; sign in and retry.'
  constructor() {
    super('no subject is bound to the session')
  }
}

/**
 * A request the CSRF protection refused (403): `SESSION_CSRF_ORIGIN` for a cross-origin unsafe
 * request, `SESSION_CSRF_TOKEN` for a missing or wrong token. The plugin answers with it before
 * the handler runs; a handler never sees it thrown.
 */
export class SessionCsrfError extends SessionError {
  static readonly code = 'SESSION_CSRF_ORIGIN'
  override name = 'SessionCsrfError'
  readonly code: 'SESSION_CSRF_ORIGIN' | 'SESSION_CSRF_TOKEN'
  readonly status = 403
  protected readonly publicMessage: string
  constructor(refused: 'origin' | 'token' = 'origin') {
    const message = refused === 'token' ? 'CSRF token missing or invalid' : 'Cross-origin request refused'
    super(message)
    this.code = refused === 'token' ? 'SESSION_CSRF_TOKEN' : SessionCsrfError.code
    this.publicMessage = message
  }
}
