/**
 * @module session
 * The `session` object handlers see. Plain reads and writes (`get`, `set`, `delete`) stay local
 * and are committed together after the handler; `increment`, `regenerate` and `destroy` reach the
 * store at once, because their result or their effect must not wait for the response.
 *
 * Parallel requests on one session: `set` and `delete` write only the keys this request changed
 * onto the current record (different keys never overwrite each other; for the same key the last
 * commit wins). `increment` is exact: the store adds in one atomic step.
 */
import type { ClientInfo } from './audit'
import type { SessionData } from './store'

/** Keys of `T` whose values are numbers: the ones `increment` accepts. */
export type NumericKeys<T> = { [K in keyof T]-?: NonNullable<T[K]> extends number ? K : never }[keyof T] &
  string

/** What a request did to its session; the manager reads it to commit. @internal */
export type SessionState = {
  client: ClientInfo
  /** The current ID; undefined until a fresh session needs one. */
  id: string | undefined
  /** Store key of the stored record; undefined while nothing is stored. */
  key: string | undefined
  createdAt: number
  lastSeenAt: number
  expiresAt: number
  renewedAt: number
  subject: string | undefined
  subjectChanged: boolean
  /**
   * Loaded through an old ID inside its renewal grace window: `key` is the new record's, and the
   * cookie is never re-sent (this request does not know the new ID).
   */
  viaOldId: boolean
  /** The request's view: stored data plus its own changes. */
  data: SessionData
  changed: Map<string, unknown>
  deleted: Set<string>
  /** The cookie must be (re)sent: new ID, moved deadline, or re-signed with the current secret. */
  sendCookie: boolean
  /** The cookie must be cleared: the session was destroyed. */
  clearCookie: boolean
  /** Store the session even while it holds no data: a CSRF token was handed out for its ID. */
  keep: boolean
}

/** The store operations a session performs at once. @internal */
export interface SessionEngine {
  increment(state: SessionState, field: string, by: number): Promise<number>
  regenerate(state: SessionState): Promise<void>
  destroy(state: SessionState): Promise<void>
  newId(state: SessionState): string
  csrfToken(state: SessionState): Promise<string>
}

/** The state behind a session, for the manager that created it (not part of the public API). @internal */
export let stateOf: (session: Session<any>) => SessionState | undefined

export class Session<T extends SessionData = SessionData> {
  static {
    stateOf = (session) => (#state in session ? session.#state : undefined)
  }
  readonly #state: SessionState
  readonly #engine: SessionEngine

  /** @internal Sessions come from the `session()` plugin. */
  constructor(state: SessionState, engine: SessionEngine) {
    this.#state = state
    this.#engine = engine
  }

  /** The session ID. A fresh session gets one here, but is stored only once it holds data. */
  get id(): string {
    return this.#state.id ?? this.#engine.newId(this.#state)
  }

  /** An opaque handle of the stored session (a hash, never the ID), as `listSubject` reports it. */
  get handle(): string | undefined {
    return this.#state.key
  }

  /** The subject (e.g. a user ID) this session is bound to. */
  get subject(): string | undefined {
    return this.#state.subject
  }

  /**
   * Binds the session to a subject, so that `listSubject`/`destroySubject` find it ("log out
   * everywhere"); `undefined` unbinds. Committed with the other changes.
   */
  setSubject(subject: string | undefined): void {
    this.#state.subject = subject
    this.#state.subjectChanged = true
  }

  /** True while nothing is stored for this session. */
  get isNew(): boolean {
    return this.#state.key === undefined
  }

  get<K extends keyof T & string>(key: K): T[K] | undefined {
    return this.#state.data[key] as T[K] | undefined
  }

  has<K extends keyof T & string>(key: K): boolean {
    return Object.hasOwn(this.#state.data, key)
  }

  /** Sets `key` for this request; committed before the response is sent. */
  set<K extends keyof T & string>(key: K, value: T[K]): void {
    if (value === undefined) return this.delete(key)
    this.#state.data[key] = value
    this.#state.changed.set(key, value)
    this.#state.deleted.delete(key)
  }

  /** Removes `key`; committed before the response is sent. */
  delete<K extends keyof T & string>(key: K): void {
    delete this.#state.data[key]
    this.#state.changed.delete(key)
    this.#state.deleted.add(key)
  }

  /**
   * Adds `by` to a number (missing counts as 0) in one atomic store step, exact under parallel
   * requests, and returns the new value.
   * @example
   * const views = await session.increment('views')
   */
  increment<K extends NumericKeys<T>>(key: K, by = 1): Promise<number> {
    if (!Number.isFinite(by)) throw new TypeError('increment: `by` must be a finite number')
    return this.#engine.increment(this.#state, key, by)
  }

  /**
   * A new ID for the same data (after login or any privilege change). The old ID keeps working
   * for `renewalGrace` seconds, for requests already in flight, then dies.
   */
  regenerate(): Promise<void> {
    return this.#engine.regenerate(this.#state)
  }

  /**
   * This session's CSRF token, for forms (a hidden `_csrf` field) or scripts (an `x-csrf-token`
   * header), checked when the plugin's `csrf: { token: true }` or a route's `csrfToken: true`
   * asks for it. It is derived from the ID, so it changes with `regenerate()` and `destroy()`.
   * A new session is stored (and its cookie sent) even without data: the token must name it.
   * Async because an automatic renewal that is due happens first, so the token names the new ID.
   * @example
   * .get('/form', async ({ session }) => `<form method="post"><input type="hidden" name="_csrf" value="${await session.csrfToken()}">…`)
   */
  csrfToken(): Promise<string> {
    return this.#engine.csrfToken(this.#state)
  }

  /** Deletes the stored session and clears the cookie. Later writes start a new session. */
  destroy(): Promise<void> {
    return this.#engine.destroy(this.#state)
  }
}
