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

/** An atomic operation met a value of the wrong type (e.g. `increment` on a string). */
export class SessionValueError extends Error {
  override name = 'SessionValueError'
  readonly status = 500
  toResponse(): Response {
    return text(500, 'Session value has the wrong type; nothing was saved.')
  }
}
