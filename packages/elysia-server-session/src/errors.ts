/**
 * @module errors
 * Errors the session layer throws. Each knows its HTTP answer (`toResponse`, which Elysia calls),
 * so a store fault is a clear 503 for that request and never a silently dropped write.
 */

const text = (status: number, body: string, headers: Record<string, string> = {}) =>
  new Response(body + '\n', {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers },
  })

/** What a client is told for an engine fault, by the engine's error code. */
const STORE_FAULTS: Record<string, { body: string; retryAfter: string }> = {
  SQLITE_FULL: { body: 'Session storage is full; nothing was saved. Please retry later.', retryAfter: '30' },
  SQLITE_BUSY: { body: 'Session storage is busy; nothing was saved. Please retry shortly.', retryAfter: '1' },
}
const UNAVAILABLE = { body: 'Session storage is unavailable; nothing was saved. Please retry shortly.', retryAfter: '1' }

/** The store could not answer or could not write (a system fault). Nothing was saved. */
export class SessionStoreError extends Error {
  override name = 'SessionStoreError'
  readonly status = 503
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
  toResponse(): Response {
    const code = String((this.cause as { code?: unknown } | undefined)?.code ?? '')
    const { body, retryAfter } = STORE_FAULTS[code] ?? UNAVAILABLE
    return text(503, body, { 'retry-after': retryAfter })
  }
}

/** The session's serialised data would exceed the configured maximum. Nothing was saved. */
export class SessionTooLargeError extends Error {
  override name = 'SessionTooLargeError'
  readonly status = 500
  constructor(
    readonly bytes: number,
    readonly maxBytes: number
  ) {
    super(`session data is ${bytes} bytes, over the limit of ${maxBytes}`)
  }
  toResponse(): Response {
    return text(500, 'Session data is too large to save; nothing was saved.')
  }
}

/**
 * A value the session cannot store: one JSON cannot hold (the message names the key and where in
 * it), or an atomic operation on the wrong type (`increment` on a string). A programming error:
 * nothing was saved, and no store was asked.
 */
export class SessionValueError extends Error {
  override name = 'SessionValueError'
  readonly status = 500
  constructor(
    message: string,
    /** The session key whose value could not be stored, when known. */
    readonly key?: string
  ) {
    super(message)
  }
  toResponse(): Response {
    const what = this.key === undefined ? 'Session value' : `Session value ${JSON.stringify(this.key)}`
    return text(500, `${what} has the wrong type or is not JSON; nothing was saved.`)
  }
}

/**
 * A session was changed after its commit (a streaming handler's body, a timer): the change could
 * never be saved, so it fails loudly instead. The message names the call and the key.
 */
export class SessionCommittedError extends Error {
  override name = 'SessionCommittedError'
  readonly status = 500
  constructor(call: string, key?: string) {
    const what = key === undefined ? `session.${call}()` : `session.${call}(${JSON.stringify(key)})`
    super(`${what} after the session was committed: the change would be lost (change the session before the response starts)`)
  }
  toResponse(): Response {
    return text(500, 'Session changed after the response started; nothing was saved.')
  }
}

/**
 * `setSubject()` through an old ID inside its renewal grace window: whoever holds an old ID may
 * finish a request with it, but never bind the session to a user. A retry carries the new ID.
 */
export class SessionOldIdError extends Error {
  override name = 'SessionOldIdError'
  readonly status = 409
  constructor(call: string) {
    super(`session.${call}() through an old session ID (renewed by another request) is refused`)
  }
  toResponse(): Response {
    return text(409, 'Your session was renewed by another request; nothing was saved. Please retry.')
  }
}
