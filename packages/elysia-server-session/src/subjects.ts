/**
 * @module subjects
 * A subject's sessions ("your devices"): list them (each with its last-seen time, the User-Agent
 * as of its last renewal, and whether it is remembered) and revoke one, all but the current one
 * ("log out other devices") or all ("log out everywhere").
 * Sessions join a subject through `session.setSubject(userId)`, usually right after login and
 * `regenerate()`.
 */
import { requireCapability } from './capabilities'
import type { SessionStore, SessionSummary } from './store'

export type SubjectSessions = {
  /** The subject's live sessions, most recently seen first; `key` is the handle to revoke by. */
  list(subject: string): Promise<SessionSummary[]>
  /** Revokes one of the subject's sessions; a handle of someone else's session is refused (false). */
  revoke(subject: string, handle: string): Promise<boolean>
  /** Revokes every session of the subject. @returns how many. */
  revokeAll(subject: string): Promise<number>
  /**
   * "Log out every other device": revokes the subject's sessions except `keep` (the current
   * session's `handle`). Only the subject's own sessions are touched. @returns how many.
   */
  revokeOthers(subject: string, keep: string | undefined): Promise<number>
}

/**
 * Needs a store with the subjects capability (every bundled store has it): without it, this
 * throws a `TypeError` at once, at start-up rather than at the first request.
 * @example
 * const devices = subjectSessions(store)
 * app.get('/devices', ({ session }) => devices.list(session.subject!))
 * app.post('/logout-everywhere', ({ session }) => devices.revokeAll(session.subject!))
 * app.post('/logout-others', ({ session }) => devices.revokeOthers(session.subject!, session.handle))
 */
export function subjectSessions(anyStore: SessionStore, now: () => number = Date.now): SubjectSessions {
  const store = requireCapability(anyStore, 'subjects', 'subjectSessions')
  const list = (subject: string) => store.listSubject(subject, now())
  return {
    list,
    async revoke(subject, handle) {
      if (!(await list(subject)).some((summary) => summary.key === handle)) return false
      await store.destroy(handle)
      return true
    },
    revokeAll: (subject) => store.destroySubject(subject),
    async revokeOthers(subject, keep) {
      const others = (await list(subject)).filter((summary) => summary.key !== keep)
      await Promise.all(others.map((summary) => store.destroy(summary.key)))
      return others.length
    },
  }
}
