/**
 * @module options
 * The session layer's options, their defaults, and their validation.
 */
import type { SessionStore } from './store'

export type SessionLogger = {
  warn(message: string): void
  error(message: string): void
}

export type SessionOptions = {
  /** Where sessions live: `sqliteStore`, `memoryStore`, `redisStore`, or your own `SessionStore`. */
  store: SessionStore
  /** Signing secrets, each at least 32 characters: the first signs, all verify (rotation). */
  secrets: readonly string[]
  /** Cookie name: generic on purpose (no framework fingerprint). @default 'id' */
  cookieName?: string
  /** `'auto'` marks the cookie Secure when the request came over https. @default 'auto' */
  secure?: boolean | 'auto'
  /** Seconds of inactivity after which a session dies. @default 1800 */
  idleTimeout?: number
  /** Seconds after creation after which a session dies, however active. @default 86400 */
  absoluteTimeout?: number
  /** A request that changes nothing moves the idle deadline at most once per this many seconds. @default 60 */
  touchInterval?: number
  /** Largest serialised session data in bytes; larger is an error at save. @default 16384 */
  maxBytes?: number
  /** The clock, in epoch milliseconds (inject one in tests). @default Date.now */
  now?: () => number
  /** Where store faults and warnings go; never given a session ID. @default console */
  logger?: SessionLogger
}

export type ResolvedSessionOptions = Required<SessionOptions> & {
  idleMs: number
  absoluteMs: number
  touchMs: number
}

export const MIN_SECRET_LENGTH = 32

/** Defaults applied and every value checked; throws a `TypeError` that names the bad option. */
export function resolveSessionOptions(options: SessionOptions): ResolvedSessionOptions {
  const resolved = {
    cookieName: 'id',
    secure: 'auto' as const,
    idleTimeout: 1800,
    absoluteTimeout: 86_400,
    touchInterval: 60,
    maxBytes: 16_384,
    now: Date.now,
    logger: console,
    ...options,
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
  if (!Number.isFinite(resolved.touchInterval) || resolved.touchInterval < 0) {
    throw new TypeError('session: `touchInterval` must be zero or a positive number')
  }
  return {
    ...resolved,
    idleMs: resolved.idleTimeout * 1000,
    absoluteMs: resolved.absoluteTimeout * 1000,
    touchMs: resolved.touchInterval * 1000,
  }
}
