/**
 * @module manager
 * Loads a request's session from its cookie and commits it before the response is built. Every
 * store fault becomes a `SessionStoreError` (503, reported here by its code, repeats summarised:
 * see faults.ts), so nothing is reported as saved that was not.
 */
import { createAuditor, type ClientInfo } from './audit'
import { csrfTokenFor } from './csrf'
import { SessionStoreError, SessionTooLargeError, SessionValueError } from './errors'
import { createFaultReporter } from './faults'
import { extractFlash, flashNames, FLASH_PREFIX } from './flash'
import { generateId, isWellFormedId, storeKey } from './ids'
import { createLifetimes } from './lifetimes'
import type { ResolvedSessionOptions, StoreOperation } from './options'
import { foldMutations, Session, settleChanges, stateOf, type SessionEngine, type SessionState } from './session'
import { sign, unsign } from './signing'
import { addToField } from './stores/records'
import type { JsonShape } from './json'
import type { SessionChanges, SessionRecord, WriteOptions } from './store'

/** The cookie to write on the response, if any; no `maxAge` makes it a browser-session cookie. */
export type CookieWrite = { value: string; maxAge?: number }

/**
 * Cookies of our name a request may carry that are tried, in order: several come from cookie
 * tossing (`id=garbage; id=<valid>`). Each costs an HMAC, and a store read once its signature holds.
 */
export const MAX_COOKIE_CANDIDATES = 4

/** How a request may use its session: HEAD and OPTIONS read, and never write. */
export type LoadOptions = { readOnly?: boolean }

export type SessionManager = {
  /**
   * The session of the first candidate cookie (one value or several, as `readCookies` gives them)
   * that names a live session; a fresh one when none does.
   */
  load<T extends JsonShape<T>>(cookie: unknown, client?: ClientInfo, options?: LoadOptions): Promise<Session<T>>
  /** Writes what the request changed. @returns the cookie to send, or undefined for none. */
  commit(session: Session<any, any>): Promise<CookieWrite | undefined>
}

const isOwnError = (error: unknown) => error instanceof SessionTooLargeError || error instanceof SessionValueError

export function createSessionManager(options: ResolvedSessionOptions): SessionManager {
  const { store, secrets, now, idleMs, touchMs, graceMs, renewAfterMs, maxBytes, logger, checkData, onStoreCall } = options
  const audit = createAuditor(options)
  const faults = createFaultReporter({ logger })

  const fault = (operation: string, error: unknown) => {
    if (isOwnError(error)) return error
    faults.report(operation, error)
    return new SessionStoreError(`session store ${operation} failed`, { cause: error })
  }
  /** Tells `onStoreCall` (when given) how long a store call begun at `started` (`performance.now()`) took. */
  const timed = (operation: StoreOperation, started: number, failed: boolean) => {
    try {
      onStoreCall!(operation, (performance.now() - started) / 1000, failed)
    } catch (error) {
      logger.error(`session onStoreCall hook failed: ${String(error)}`)
    }
  }
  /**
   * Runs a store call, timed for `onStoreCall`; a system fault (a rejection, or a store that throws
   * instead of rejecting) is reported and becomes a 503. The hot calls (get, increment) inline the
   * same try/await instead: a wrapper costs a closure and a promise per call.
   */
  const guarded = async <T>(operation: StoreOperation, call: () => Promise<T>): Promise<T> => {
    const started = onStoreCall ? performance.now() : 0
    try {
      const result = await call()
      if (onStoreCall) timed(operation, started, false)
      return result
    } catch (error) {
      if (onStoreCall) timed(operation, started, true)
      throw fault(operation, error)
    }
  }

  /** Marks the states this manager made: another session plugin's session on the same route is not ours to commit. */
  const owner = {}
  const lifetimes = createLifetimes(options)
  const { deadline } = lifetimes
  const freshState = (client: ClientInfo, readOnly: boolean): SessionState => ({
    client,
    id: undefined,
    key: undefined,
    createdAt: 0,
    lastSeenAt: 0,
    expiresAt: 0,
    renewedAt: 0,
    subject: undefined,
    subjectChanged: false,
    viaOldId: false,
    data: {},
    changed: new Map(),
    deleted: new Set(),
    handedOut: undefined,
    committed: false,
    sendCookie: false,
    clearCookie: false,
    keep: false,
    remembered: false,
    rememberedChanged: false,
    flash: undefined,
    owner,
    readOnly,
  })
  /**
   * The request lets go of the record: it vanished (expired, or destroyed by a parallel request),
   * or it was reached through an old ID and may be someone else's now. Like a missing record, that
   * is "no session": only this request's own changes carry over, into a new session, and never
   * the record's subject (a revoked login must not come back through a request in flight).
   */
  const orphan = (state: SessionState) => {
    foldMutations(state)
    Object.assign(state, { id: undefined, key: undefined, viaOldId: false, sendCookie: false })
    if (!state.subjectChanged) state.subject = undefined
    // The record's lifetime goes with it, unless this request chose one itself.
    if (!state.rememberedChanged) state.remembered = false
    state.flash = undefined
    state.data = Object.fromEntries(state.changed)
    state.deleted.clear()
  }
  // Deadlines move at most once per touch interval (at most half the idle timeout), for reads and
  // writes alike: a write inside it keeps the deadline, so it sends no Set-Cookie and leaves the
  // store's expiry index alone. The cookie's Max-Age always matches the stored deadline.
  const refreshMs = Math.min(touchMs, idleMs / 2)
  const writeOptions = (state: SessionState, at: number): WriteOptions => {
    const next = deadline(state.createdAt, at, state.remembered)
    // A new lifetime moves the deadline at once, in either direction.
    const moves = state.rememberedChanged || next - state.expiresAt >= refreshMs
    return { now: at, maxBytes, expiresAt: moves ? next : undefined }
  }
  const stored = (state: SessionState, at: number, expiresAt: number | undefined) => {
    if (expiresAt === undefined) return
    state.lastSeenAt = at
    state.expiresAt = expiresAt
    state.sendCookie = true
  }

  const renewalDue = (state: SessionState, at: number) => renewAfterMs > 0 && at - state.renewedAt >= renewAfterMs
  const tokenOf = (state: SessionState) => csrfTokenFor(state.key ?? storeKey(state.id ?? engine.newId(state)), secrets[0]!)

  /**
   * Moves the stored record to a new ID. Only automatic renewal passes a grace window (for
   * requests already in flight); `regenerate()` passes none, so the old ID dies in the same step.
   */
  const renew = async (state: SessionState, graceMs: number) => {
    const id = generateId()
    const key = storeKey(id)
    const at = now()
    if (await guarded('rename', () => store.rename(state.key!, key, at, graceMs > 0 ? at + graceMs : undefined, state.client.userAgent))) {
      const previous = state.id === undefined ? undefined : audit.hash(state.id)
      audit.emit({ type: 'renewed', previous, address: state.client.address }, id)
      Object.assign(state, { key, renewedAt: at, sendCookie: true })
    } else orphan(state)
    state.id = id
  }

  const engine: SessionEngine = {
    newId: (state) => (state.id = generateId()),
    async csrfToken(state) {
      state.keep = true
      // A renewal due now would happen at commit, after the page carries the old ID's token.
      if (state.key !== undefined && !state.viaOldId && renewalDue(state, now())) await renew(state, graceMs)
      return tokenOf(state)
    },
    async takeFlash(state, names) {
      const present = state.flash
      const wanted = present && (names ?? Object.keys(present)).filter((name) => Object.hasOwn(present, name))
      if (!wanted?.length || state.key === undefined) return {}
      for (const name of wanted) delete present![name]
      const at = now()
      const write = writeOptions(state, at)
      const taken = await guarded('take', () => store.take(state.key!, wanted.map((name) => FLASH_PREFIX + name), write))
      if (taken === undefined) {
        orphan(state)
        return {}
      }
      stored(state, at, write.expiresAt)
      return flashNames(taken)
    },
    async increment(state, field, by) {
      const pending = state.changed.has(field) || state.deleted.has(field)
      if (state.key !== undefined && !pending) {
        const at = now()
        const write = writeOptions(state, at)
        let value: number | undefined
        const started = onStoreCall ? performance.now() : 0
        try {
          value = await store.increment(state.key, field, by, write)
        } catch (error) {
          if (onStoreCall) timed('increment', started, true)
          throw fault('increment', error)
        }
        if (onStoreCall) timed('increment', started, false)
        if (value !== undefined) {
          state.data[field] = value
          stored(state, at, write.expiresAt)
          return value
        }
        orphan(state)
      }
      // Not stored yet, or this request already changed the field: the commit will write it.
      const value = addToField(state.data, field, by)
      state.changed.set(field, value)
      state.deleted.delete(field)
      return value
    },
    async regenerate(state) {
      if (state.key !== undefined && !state.viaOldId) return renew(state, 0)
      // Through an old ID: never a live ID for that record; the request goes on as a new session.
      if (state.viaOldId) orphan(state)
      state.id = generateId()
    },
    async destroy(state) {
      if (state.key !== undefined) {
        await guarded('destroy', () => store.destroy(state.key!))
        audit.emit({ type: 'destroyed', address: state.client.address }, state.id)
      }
      Object.assign(state, freshState(state.client, false), { clearCookie: true })
    },
  }

  /**
   * A read-only request's session: the handler sees the data and the would-be results of its
   * calls, and nothing reaches the store; its commit writes nothing (`commit` skips a read-only state).
   */
  const readOnlyEngine: SessionEngine = {
    newId: engine.newId,
    increment: async (state, field, by) => addToField(state.data, field, by),
    regenerate: async () => {},
    destroy: async (state) => void Object.assign(state, freshState(state.client, true)),
    csrfToken: async (state) => tokenOf(state),
    // A read-only request sees the messages and leaves them for the next one.
    takeFlash: async ({ flash = {} }, names) => (names ? Object.fromEntries(names.filter((name) => Object.hasOwn(flash, name)).map((name) => [name, flash[name]!])) : { ...flash }),
  }

  /** Adopts the session `value` names into `state`. @returns `bad` for a forged or malformed cookie. */
  const adopt = async (state: SessionState, value: unknown): Promise<'adopted' | 'bad' | 'dead'> => {
    const verified = typeof value === 'string' ? unsign(value, secrets) : undefined
    if (!verified || !isWellFormedId(verified.value)) return 'bad'
    const at = now()
    const key = storeKey(verified.value)
    let record: SessionRecord | undefined
    const started = onStoreCall ? performance.now() : 0
    try {
      record = await store.get(key, at)
    } catch (error) {
      if (onStoreCall) timed('get', started, true)
      throw fault('read', error)
    }
    if (onStoreCall) timed('get', started, false)
    // The store applies expiresAt; timeouts are checked again in case they were shortened since.
    const remembered = record?.remembered === true
    const recordDeadline = record && Math.min(record.expiresAt, deadline(record.createdAt, record.lastSeenAt, remembered))
    if (!record || at >= recordDeadline!) {
      // Our signature, no live record: it expired, was revoked, or was never issued (a leaked secret).
      audit.emit({ type: 'expired', address: state.client.address }, verified.value)
      return 'dead'
    }
    const flash = extractFlash(record.data)
    const checked = checkData(record.data)
    const data = checked instanceof Promise ? await checked : checked
    if (data === undefined) {
      logger.warn('session data failed validation; treated as no session')
      audit.emit({ type: 'invalid', address: state.client.address }, verified.value)
      return 'dead'
    }
    state.id = verified.value
    state.key = record.movedTo ?? key
    state.viaOldId = record.movedTo !== undefined
    state.createdAt = record.createdAt
    state.lastSeenAt = record.lastSeenAt
    state.expiresAt = recordDeadline!
    state.renewedAt = record.renewedAt
    state.subject = record.subject
    state.data = data
    state.remembered = remembered
    state.flash = flash
    state.sendCookie = verified.secretIndex > 0 // verified by an older secret: re-sign with the first
    return 'adopted'
  }

  const load = async <T extends JsonShape<T>>(cookie: unknown, client: ClientInfo = {}, { readOnly = false }: LoadOptions = {}) => {
    const state = freshState(client, readOnly)
    const session = new Session<T>(state, readOnly ? readOnlyEngine : engine)
    // One candidate is a string (no array on the hot path); several an array, tried in order.
    const several = Array.isArray(cookie) ? cookie : undefined
    const count = several ? Math.min(several.length, MAX_COOKIE_CANDIDATES) : cookie === undefined || cookie === '' ? 0 : 1
    let bad = false
    for (let i = 0; i < count; i++) {
      const outcome = await adopt(state, several ? several[i] : cookie)
      if (outcome === 'adopted') break
      bad ||= outcome === 'bad'
    }
    if (bad) {
      audit.emit({ type: 'invalid', address: client.address })
      // Beside a valid session, a bad cookie is someone else's doing (tossing): not the client's flood.
      if (state.key === undefined) audit.count(client, 'bad')
    }
    return session
  }

  /** Lazy creation: the first commit that leaves data behind (or a CSRF token) creates the record. */
  const create = async (state: SessionState, at: number) => {
    // A blocked address is still answered, only without a stored session (and so no cookie).
    if (audit.blocked(state.client)) return
    audit.count(state.client, 'created')
    const id = state.id ?? generateId()
    const key = storeKey(id)
    const { subject, client, remembered } = state
    const expiresAt = deadline(at, at, remembered)
    const record = { data: state.data, createdAt: at, lastSeenAt: at, expiresAt, renewedAt: at, subject, userAgent: client.userAgent, remembered }
    await guarded('create', () => store.create(key, record, maxBytes))
    audit.emit({ type: 'created', address: client.address }, id)
    Object.assign(state, { id, key, createdAt: at, renewedAt: at })
    stored(state, at, expiresAt)
  }

  /** HEAD and OPTIONS sessions never write, whatever their handler did; nor does another manager's session. */
  const commit = async (session: Session<any, any>): Promise<CookieWrite | undefined> => {
    const state = stateOf(session)
    if (!state || state.owner !== owner || state.readOnly) return undefined
    state.committed = true // from here on a change could not be saved: the session refuses it
    settleChanges(state)
    const at = now()
    if (state.key !== undefined && (state.changed.size > 0 || state.deleted.size > 0 || state.subjectChanged || state.rememberedChanged)) {
      const changes: SessionChanges = { set: Object.fromEntries(state.changed), unset: [...state.deleted] }
      if (state.subjectChanged) changes.subject = state.subject ?? null
      if (state.rememberedChanged) changes.remembered = state.remembered
      const write = writeOptions(state, at)
      if (await guarded('update', () => store.update(state.key!, changes, write))) stored(state, at, write.expiresAt)
      else orphan(state)
    }
    // A subject alone is worth storing: a login that binds one and sets no data must stick.
    if (state.key === undefined && (state.keep || state.subject !== undefined || Object.keys(state.data).length > 0)) await create(state, at)
    else if (state.key !== undefined && !state.viaOldId) {
      if (renewalDue(state, at)) await renew(state, graceMs)
      else if (!state.sendCookie && at - state.lastSeenAt >= refreshMs) {
        const expiresAt = deadline(state.createdAt, at, state.remembered)
        if (await guarded('touch', () => store.touch(state.key!, at, expiresAt))) stored(state, at, expiresAt)
      }
    }
    if (state.key !== undefined && state.sendCookie && !state.viaOldId) {
      const maxAge = lifetimes.maxAge(state.expiresAt, at, state.remembered)
      return maxAge === undefined ? { value: sign(state.id!, secrets[0]!) } : { value: sign(state.id!, secrets[0]!), maxAge }
    }
    return state.clearCookie ? { value: '', maxAge: 0 } : undefined
  }

  return { load, commit }
}
