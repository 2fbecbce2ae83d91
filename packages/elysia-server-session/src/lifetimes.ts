/**
 * @module lifetimes
 * Per-session lifetimes: a session is either standard (`idleTimeout`, `absoluteTimeout`) or
 * remembered (`session.rememberMe()`: the options' `rememberMe` timeouts). The store keeps only
 * the flag, so every deadline follows the options in force: shortening a timeout shortens the
 * sessions already stored, as the plain timeouts do.
 */
import type { ResolvedSessionOptions } from './options'

export type Lifetimes = {
  /** The earlier of the idle and the absolute deadline of a session created at `createdAt`, seen at `at`. */
  deadline(createdAt: number, at: number, remembered: boolean): number
  /** The cookie's Max-Age in seconds for this deadline, or undefined for a browser-session cookie. */
  maxAge(expiresAt: number, at: number, remembered: boolean): number | undefined
}

export function createLifetimes(options: ResolvedSessionOptions): Lifetimes {
  const { idleMs, absoluteMs, rememberIdleMs, rememberAbsoluteMs, browserSessionCookie } = options
  return {
    deadline: (createdAt, at, remembered) =>
      remembered ? Math.min(at + rememberIdleMs, createdAt + rememberAbsoluteMs) : Math.min(at + idleMs, createdAt + absoluteMs),
    maxAge: (expiresAt, at, remembered) =>
      browserSessionCookie && !remembered ? undefined : Math.max(1, Math.floor((expiresAt - at) / 1000)),
  }
}
