/**
 * @module options
 * The session layer's options, their defaults, and their validation.
 */
import { csrfDefaults, type CsrfOptions, type CsrfReason } from './csrf'
import { FLOOD_DEFAULTS, type FloodOptions } from './flood'
import { createDataCheck, type DataCheck, type SessionSchema } from './schema'
import type { SessionData, SessionStore } from './store'

export type SessionLogger = {
  warn(message: string): void
  error(message: string): void
}

/**
 * An audit event. `session` is a salted hash of the ID (never the ID), stable for one session
 * and secret, so log lines can be correlated without granting anything.
 */
export type SessionEvent = {
  type: 'created' | 'renewed' | 'destroyed' | 'expired' | 'invalid' | 'flood' | 'csrf'
  at: number
  session?: string
  /** For `renewed`: the hash of the ID it replaced. */
  previous?: string
  address?: string
  /** For `flood`: set when the address is now blocked, for this many seconds (see `FloodOptions`). */
  blockSeconds?: number
  /** For `csrf`: which check refused the request. */
  reason?: CsrfReason
}

export type SessionOptions = {
  /** Where sessions live: `sqliteStore`, `memoryStore`, `redisStore`, or your own `SessionStore`. */
  store: SessionStore
  /** Signing secrets, each at least 32 characters: the first signs, all verify (rotation). */
  secrets: readonly string[]
  /** Cookie name: generic on purpose (no framework fingerprint). @default 'id' */
  cookieName?: string
  /**
   * `'auto'`: Secure when the request came over https (directly, or per X-Forwarded-Proto from a
   * trusted proxy). `true`: always Secure, and never sent over plain http. `'force'`: Secure and
   * sent even over plain http. `false`: never Secure. @default 'auto'
   */
  secure?: boolean | 'auto' | 'force'
  /** A Secure cookie's name takes the `__Host-` prefix (no Domain, Path=/, Secure only). @default true */
  hostPrefix?: boolean
  /**
   * How many reverse proxies in front of the app to trust: their X-Forwarded-For gives the client
   * address and X-Forwarded-Proto the scheme. 0 trusts no header. @default 0
   */
  trustProxy?: number
  /**
   * Per-address flood accounting of new sessions and bad cookies: detected and reported (a `flood`
   * event, one warning per address per window), never refused unless `blockSeconds` is set.
   * `{ threshold: 0 }` turns it off.
   */
  flood?: FloodOptions
  /**
   * Cross-site request forgery protection for the routes under the plugin: unsafe requests
   * (anything but GET, HEAD, OPTIONS) that the browser marks as cross-site get a 403, before the
   * session is loaded. `false` turns it off (only for an app that checks this itself).
   * @default {} (on, with the defaults of `CsrfOptions`)
   */
  csrf?: CsrfOptions | false
  /** Audit hook: created, renewed, destroyed, expired, invalid cookie, flood, csrf refusal. Must not throw. */
  onEvent?: (event: SessionEvent) => void
  /**
   * Told how long each store call the session layer made took, in seconds, and whether it failed:
   * a latency histogram without wrapping the store (a wrapper costs a closure and a promise per
   * call). Must not throw.
   * @example onStoreCall: (operation, seconds) => histogram.observe({ operation }, seconds)
   */
  onStoreCall?: (operation: StoreOperation, seconds: number, failed: boolean) => void
  /**
   * Checks stored data on load; data it rejects is "no session" (a fresh one), never a 500.
   * @example validate: (data) => data.views === undefined || Number.isSafeInteger(data.views)
   */
  validate?: (data: SessionData) => boolean
  /**
   * The session's data as a schema: a TypeBox schema (Elysia's `t`) or any Standard Schema (Zod,
   * Valibot, ArkType). It types the session (no `session<T>()` needed) and checks stored data on
   * load: data it rejects is no session (a fresh one, and an `invalid` event); `validate` runs on
   * what it accepts. A Standard Schema's output is the session's data, so the schema must accept
   * its own output (no transforms that change a value's type). An async validator is awaited.
   * @example schema: t.Object({ views: t.Number(), userId: t.Optional(t.String()) })
   */
  schema?: SessionSchema
  /** Seconds of inactivity after which a session dies. @default 1800 */
  idleTimeout?: number
  /** Seconds after creation after which a session dies, however active. @default 86400 */
  absoluteTimeout?: number
  /**
   * The long lifetime of sessions marked with `session.rememberMe()` ("remember me"), in seconds,
   * enforced on the server like the standard one; kept across renewals and `regenerate()`.
   * Neither may be shorter than the standard one.
   * @default { idleTimeout: 1209600, absoluteTimeout: 2592000 } (14 and 30 days, or the standard ones when longer)
   */
  rememberMe?: { idleTimeout?: number; absoluteTimeout?: number }
  /**
   * Sessions that are not remembered get a browser-session cookie (no Max-Age: the browser drops it
   * when it closes, as OWASP prefers); the server-side timeouts apply all the same. Off by default,
   * so that a plain session survives a browser restart until its idle timeout, as it always has.
   * @default false
   */
  browserSessionCookie?: boolean
  /**
   * The idle deadline (and the cookie's Max-Age with it) moves at most once per this many seconds
   * (capped at half the idle timeout), for reads and writes: most requests write no deadline and
   * send no Set-Cookie. @default 60
   */
  touchInterval?: number
  /**
   * After an automatic renewal (`renewAfter`), the old ID keeps working for this many seconds, for
   * requests already in flight: they read and write the data, but never get a cookie, a renewal
   * or a subject through it. 0 kills it at once. `regenerate()` never leaves a grace window.
   * @default 30
   */
  renewalGrace?: number
  /** Renew the ID automatically once it is this many seconds old (0: never). @default 3600 */
  renewAfter?: number
  /** Largest serialised session data in bytes; larger is an error at save. @default 16384 */
  maxBytes?: number
  /** The clock, in epoch milliseconds (inject one in tests). @default Date.now */
  now?: () => number
  /** Where store faults and warnings go; never given a session ID. @default console */
  logger?: SessionLogger
}

/** The store calls `onStoreCall` times, by the store method's name. */
export type StoreOperation = 'get' | 'create' | 'update' | 'increment' | 'take' | 'touch' | 'rename' | 'destroy'

export type ResolvedSessionOptions = Required<Omit<SessionOptions, 'schema' | 'onStoreCall'>> & {
  onStoreCall?: SessionOptions['onStoreCall']
  /** The schema (if any) and `validate` as one check on stored data. */
  checkData: DataCheck
  idleMs: number
  absoluteMs: number
  rememberIdleMs: number
  rememberAbsoluteMs: number
  touchMs: number
  graceMs: number
  renewAfterMs: number
}

export const MIN_SECRET_LENGTH = 32

/** `value` and everything in it frozen: defaults that no dependency can change for every later caller. */
function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) if (typeof inner === 'object' && inner !== null) deepFreeze(inner)
  return Object.freeze(value)
}

/**
 * The default of every optional number and switch: the one place they are written (the README
 * and the server's settings quote this object). Frozen, with `flood` and `csrf` inside it.
 * @example
 * session({ store, secrets, idleTimeout: sessionDefaults.idleTimeout * 2 })
 */
export const sessionDefaults = deepFreeze({
  cookieName: 'id',
  secure: 'auto',
  hostPrefix: true,
  trustProxy: 0,
  idleTimeout: 1800,
  absoluteTimeout: 86_400,
  /** The long lifetime of remembered sessions: 14 days idle, 30 days at most (never shorter than the standard one). */
  rememberMe: { idleTimeout: 14 * 86_400, absoluteTimeout: 30 * 86_400 },
  browserSessionCookie: false,
  touchInterval: 60,
  renewalGrace: 30,
  renewAfter: 3600,
  maxBytes: 16_384,
  /** Detect floods, never block: see `FloodOptions`. */
  flood: FLOOD_DEFAULTS,
  /** The origin check on, tokens off: see `CsrfOptions`. */
  csrf: csrfDefaults,
} as const satisfies Partial<SessionOptions>)

/** Defaults applied and every value checked; throws a `TypeError` that names the bad option. */
export function resolveSessionOptions(options: SessionOptions): ResolvedSessionOptions {
  const resolved = {
    ...sessionDefaults,
    onEvent: () => {},
    validate: () => true,
    now: Date.now,
    logger: console,
    // An option given as undefined takes its default (`{ cookieName: undefined }` is no cookie name).
    ...(Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as SessionOptions),
  }
  if (!resolved.store) throw new TypeError('session: `store` is required')
  if (!Array.isArray(resolved.secrets) || resolved.secrets.length === 0) {
    throw new TypeError('session: `secrets` needs at least one secret')
  }
  for (const secret of resolved.secrets) {
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) {
      throw new TypeError(`session: every secret must be a string of at least ${MIN_SECRET_LENGTH} characters`)
    }
  }
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(resolved.cookieName)) {
    throw new TypeError(`session: cookieName ${JSON.stringify(resolved.cookieName)} is not a valid cookie name`)
  }
  for (const name of ['idleTimeout', 'absoluteTimeout', 'maxBytes'] as const) {
    if (!Number.isFinite(resolved[name]) || resolved[name] <= 0) {
      throw new TypeError(`session: \`${name}\` must be a positive number`)
    }
  }
  // Never shorter than the standard lifetime, which may exceed the defaults.
  const remember = {
    idleTimeout: Math.max(sessionDefaults.rememberMe.idleTimeout, resolved.idleTimeout),
    absoluteTimeout: Math.max(sessionDefaults.rememberMe.absoluteTimeout, resolved.absoluteTimeout),
    ...options.rememberMe,
  }
  for (const name of ['idleTimeout', 'absoluteTimeout'] as const) {
    if (!Number.isFinite(remember[name]) || remember[name] < resolved[name]) {
      throw new TypeError(`session: \`rememberMe.${name}\` must be a number of seconds of at least \`${name}\` (${resolved[name]})`)
    }
  }
  if (typeof resolved.browserSessionCookie !== 'boolean') throw new TypeError('session: `browserSessionCookie` must be true or false')
  if (![true, false, 'auto', 'force'].includes(resolved.secure)) {
    throw new TypeError("session: `secure` must be true, false, 'auto' or 'force'")
  }
  if (!Number.isInteger(resolved.trustProxy) || resolved.trustProxy < 0) {
    throw new TypeError('session: `trustProxy` must be a whole number of proxies (0 for none)')
  }
  const flood: Record<string, unknown> = resolved.flood
  for (const name of ['threshold', 'windowSeconds', 'blockSeconds', 'maxAddresses'] as const) {
    const value = flood[name]
    const least = name === 'windowSeconds' || name === 'maxAddresses' ? 1 : 0
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= least)) {
      throw new TypeError(`session: \`flood.${name}\` must be a number of at least ${least}`)
    }
  }
  for (const name of ['touchInterval', 'renewalGrace', 'renewAfter'] as const) {
    if (!Number.isFinite(resolved[name]) || resolved[name] < 0) {
      throw new TypeError(`session: \`${name}\` must be zero or a positive number`)
    }
  }
  return {
    ...resolved,
    checkData: createDataCheck(resolved.schema, resolved.validate, resolved.logger),
    idleMs: resolved.idleTimeout * 1000,
    absoluteMs: resolved.absoluteTimeout * 1000,
    rememberIdleMs: remember.idleTimeout * 1000,
    rememberAbsoluteMs: remember.absoluteTimeout * 1000,
    touchMs: resolved.touchInterval * 1000,
    graceMs: resolved.renewalGrace * 1000,
    renewAfterMs: resolved.renewAfter * 1000,
  }
}
