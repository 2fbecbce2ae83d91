/**
 * @module session
 * The `session` object handlers see. Plain reads and writes (`get`, `set`, `delete`) stay local
 * and are committed together after the handler; `increment`, `regenerate` and `destroy` reach the
 * store at once, because their result or their effect must not wait for the response.
 *
 * Parallel requests on one session: `set` and `delete` write only the keys this request changed
 * onto the current record (different keys never overwrite each other; for the same key the last
 * commit wins). `increment` is exact: the store adds in one atomic step.
 *
 * Nothing a handler writes is lost silently: once committed, the session refuses changes
 * (`SessionCommittedError`); a value `get` handed out and the handler mutated in place is
 * committed like a `set`; a value JSON cannot hold fails the commit (`SessionValueError`).
 */
import type { ClientInfo } from './audit'
import { SessionCommittedError, SessionOldIdError, SessionValueError } from './errors'
import { jsonProblem, type DeepReadonly, type JsonShape, type JsonValue } from './json'
import { FLASH_PREFIX, type FlashMessages } from './flash'
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
  changed: Map<string, JsonValue>
  deleted: Set<string>
  /** Stored objects `get` handed out, with their JSON then: mutated in place, they count as changed. */
  handedOut: Map<string, { value: JsonValue; json: string }> | undefined
  /** The commit has begun: a change now could never be saved, so the session refuses it. */
  committed: boolean
  /** The cookie must be (re)sent: new ID, moved deadline, or re-signed with the current secret. */
  sendCookie: boolean
  /** The cookie must be cleared: the session was destroyed. */
  clearCookie: boolean
  /** Store the session even while it holds no data: a CSRF token was handed out for its ID. */
  keep: boolean
  /** Lives by the long lifetime ("remember me"). */
  remembered: boolean
  /** `rememberMe()` changed `remembered`: the commit writes it and moves the deadline. */
  rememberedChanged: boolean
  /** The flash messages stored when the request began and not taken yet, by name. */
  flash: SessionData | undefined
  /** The manager that made this state: only it commits the session. */
  owner: object
  /** A HEAD or OPTIONS request's session: its commit writes nothing. */
  readOnly: boolean
}

/** The store operations a session performs at once. @internal */
export interface SessionEngine {
  increment(state: SessionState, field: string, by: number): Promise<number>
  regenerate(state: SessionState): Promise<void>
  destroy(state: SessionState): Promise<void>
  newId(state: SessionState): string
  csrfToken(state: SessionState): Promise<string>
  /** Consumes the named flash messages (all when undefined) in one atomic store step. */
  takeFlash(state: SessionState, names: readonly string[] | undefined): Promise<SessionData>
}

/** The state behind a session, for the manager that created it. @internal */
export let stateOf: (session: Session<any, any>) => SessionState | undefined

/**
 * Readies a request's changes for its commit: stored objects mutated in place join `changed`
 * (so a stored session keeps them as a new one does), and every value to write must be JSON.
 * Throws `SessionValueError` naming the key, before any store is asked. @internal
 */
export function settleChanges(state: SessionState): void {
  foldMutations(state)
  for (const [key, value] of state.changed) {
    const problem = jsonProblem(value, key)
    if (problem) throw new SessionValueError(`session value ${JSON.stringify(key)} cannot be stored: ${problem}`, key)
  }
}

/** Handed-out objects whose JSON changed (or no longer serialises) become changes. @internal */
export function foldMutations(state: SessionState): void {
  if (!state.handedOut) return
  for (const [key, { value, json }] of state.handedOut) {
    if (state.changed.has(key) || state.deleted.has(key) || state.data[key] !== value) continue
    let now: string | undefined
    try {
      now = JSON.stringify(value)
    } catch {} // a cycle or a bigint: changed, and settleChanges names it
    if (now !== json) state.changed.set(key, value)
  }
  state.handedOut = undefined
}

/**
 * A request's session, typed by `T`: its values are JSON (`Date`, `Map`, `Set`, `bigint`,
 * functions are compile errors; store `date.getTime()` or an array instead).
 * @example
 * type Data = { views: number; cart: { sku: string; qty: number }[] }
 * app.use(session<Data>({ store, secrets })).post('/cart', ({ session, body }) => {
 *   session.set('cart', [...(session.get('cart') ?? []), body]) // get() is read-only: copy, then set
 * })
 */
export class Session<T extends JsonShape<T> = SessionData, F extends JsonShape<F> = FlashMessages> {
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
    this.#writable('setSubject')
    // Whoever holds an old ID may finish a request with it, but never bind the session to a user.
    if (this.#state.viaOldId) throw new SessionOldIdError('setSubject')
    this.#state.subject = subject
    this.#state.subjectChanged = true
  }

  /** True while nothing is stored for this session. */
  get isNew(): boolean {
    return this.#state.key === undefined
  }

  /**
   * The value at `key`, read-only all the way down: to change it, `set` a changed copy. (A value
   * mutated in place anyway is committed like a `set`, for stored and new sessions alike.)
   */
  get<K extends keyof T & string>(key: K): DeepReadonly<T[K]> | undefined {
    const state = this.#state
    const value = state.data[key]
    if (typeof value === 'object' && value !== null && !state.changed.has(key)) {
      state.handedOut ??= new Map()
      if (!state.handedOut.has(key)) state.handedOut.set(key, { value, json: JSON.stringify(value) })
    }
    return value as DeepReadonly<T[K]> | undefined
  }

  has<K extends keyof T & string>(key: K): boolean {
    return Object.hasOwn(this.#state.data, key)
  }

  /**
   * Sets `key` for this request; committed before the response is sent. The value must be JSON
   * (checked at the commit: otherwise a `SessionValueError` naming the key, nothing saved).
   */
  set<K extends keyof T & string>(key: K, value: DeepReadonly<T[K]>): void {
    this.#writable('set', key)
    if (value === undefined) return this.delete(key)
    this.#state.data[key] = value as JsonValue
    this.#state.changed.set(key, value as JsonValue)
    this.#state.deleted.delete(key)
  }

  /** Removes `key`; committed before the response is sent. */
  delete<K extends keyof T & string>(key: K): void {
    this.#writable('delete', key)
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
    this.#writable('increment', key)
    if (!Number.isFinite(by)) throw new TypeError('increment: `by` must be a finite number')
    return this.#engine.increment(this.#state, key, by)
  }

  /**
   * A new ID for the same data: call it at login and at any privilege change. The old ID opens
   * nothing from then on, in every store (no grace window: that is only for automatic renewal).
   * Through an old ID still inside the grace window of an automatic renewal, the record may be
   * someone else's by now: it is never moved to a live ID, and the request goes on as a new,
   * empty session (keeping only what this request itself set).
   * @example
   * await session.regenerate()
   * session.set('userId', user.id)
   * session.setSubject(user.id)
   */
  regenerate(): Promise<void> {
    this.#writable('regenerate')
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

  /** Deletes the stored session (and any old ID still pointing at it) and clears the cookie. */
  destroy(): Promise<void> {
    this.#writable('destroy')
    return this.#engine.destroy(this.#state)
  }

  /**
   * Stores a flash message for the next request that takes it (usually the page a redirect leads
   * to), committed with the other changes, so it survives `return redirect(...)`. Typed by the
   * plugin's second type parameter (text by name by default).
   * @example
   * session.flash('notice', 'Welcome back!')
   * return redirect('/account', 303)
   */
  flash<K extends keyof F & string>(name: K, message: DeepReadonly<F[K]>): void {
    this.#writable('flash', name)
    const key = FLASH_PREFIX + name
    this.#state.data[key] = message as JsonValue
    this.#state.changed.set(key, message as JsonValue)
    this.#state.deleted.delete(key)
  }

  /**
   * Takes the flash messages that were stored when this request began: the named one, or all of
   * them. Taking consumes them in one atomic store step, so of two parallel requests exactly one
   * gets each message; a message this request itself stores is for the next one.
   * @example
   * const { notice } = await session.takeFlash()
   */
  takeFlash(): Promise<Partial<DeepReadonly<F>>>
  takeFlash<K extends keyof F & string>(name: K): Promise<DeepReadonly<F[K]> | undefined>
  async takeFlash(name?: string): Promise<unknown> {
    this.#writable('takeFlash', name)
    const taken = await this.#engine.takeFlash(this.#state, name === undefined ? undefined : [name])
    return name === undefined ? taken : taken[name]
  }

  /** Whether this session lives by the long lifetime of `rememberMe` in the options. */
  get remembered(): boolean {
    return this.#state.remembered
  }

  /**
   * "Remember me": gives this session the long lifetime of the options (`rememberMe`), or back the
   * standard one with `false`. Enforced on the server, kept across renewals and `regenerate()`;
   * committed with the other changes, which move the deadline and the cookie's Max-Age at once.
   * @example
   * await session.regenerate()
   * session.setSubject(user.id)
   * session.rememberMe(body.remember === 'on')
   */
  rememberMe(remember = true): void {
    this.#writable('rememberMe')
    // As for setSubject: an old ID finishes its request, but never changes what the live session is.
    if (this.#state.viaOldId) throw new SessionOldIdError('rememberMe')
    if (this.#state.remembered === remember) return
    this.#state.remembered = remember
    this.#state.rememberedChanged = !this.#state.rememberedChanged
  }

  #writable(call: string, key?: string): void {
    if (this.#state.committed) throw new SessionCommittedError(call, key)
  }
}
