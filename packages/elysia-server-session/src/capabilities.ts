/**
 * @module capabilities
 * What a store may do beyond the core contract (`SessionStore`: what a request needs): list and
 * revoke a subject's sessions, prune expired records, count them, delete them all. The parts that
 * need one look for it and fail with a clear error when a store lacks it, so a new store can start
 * with the core and add capabilities later. The bundled stores have them all (`FullSessionStore`).
 */
import type { SessionStore, SessionSummary, StoreStats } from './store'

/** Sessions bound to a subject (a user ID): for `subjectSessions` and `sessions revoke --subject`. */
export interface SubjectsCapability {
  /** The live sessions bound to `subject`, most recently seen first. */
  listSubject(subject: string, now: number): Promise<SessionSummary[]>
  /**
   * Deletes every session bound to `subject` ("log out everywhere") and their grace pointers, in
   * one atomic step. @returns how many sessions (pointers are not counted).
   */
  destroySubject(subject: string): Promise<number>
}

/** Deleting expired records, for engines that do not expire them natively. */
export interface PruneCapability {
  /** Deletes up to `limit` records expired at `now`. @returns how many it deleted. */
  prune(now: number, limit: number): Promise<number>
}

/** Counts for operators. */
export interface StatsCapability {
  /**
   * Counts for operators (`sessions stats`, the `sessions_stored` metric); `live` counts records,
   * never grace pointers. May scan: never on the request path, and a gauge refreshes from
   * it on a timer rather than per scrape. A scan that would hold the event loop runs off it (the
   * SQLite store counts on its worker thread).
   */
  stats(now: number): Promise<StoreStats>
}

/** Deleting every session at once (`sessions revoke --all`). */
export interface DestroyAllCapability {
  /** Deletes every session. @returns how many records it deleted. */
  destroyAll(): Promise<number>
}

/** Each capability by name. */
export type StoreCapabilities = {
  subjects: SubjectsCapability
  prune: PruneCapability
  stats: StatsCapability
  destroyAll: DestroyAllCapability
}
export type StoreCapability = keyof StoreCapabilities

/** A store with every capability, and `ping` and `close`: what `sqliteStore`, `redisStore` and `memoryStore` return. */
export type FullSessionStore = SessionStore &
  SubjectsCapability &
  PruneCapability &
  StatsCapability &
  DestroyAllCapability &
  Required<Pick<SessionStore, 'ping' | 'close'>>

/** The methods that make up each capability: a store has one when it has all of them. */
export const capabilityMethods = {
  subjects: ['listSubject', 'destroySubject'],
  prune: ['prune'],
  stats: ['stats'],
  destroyAll: ['destroyAll'],
} as const satisfies { [C in StoreCapability]: readonly (keyof StoreCapabilities[C])[] }

/**
 * Whether `store` has `capability` (every one of its methods).
 * @example
 * if (hasCapability(store, 'prune')) await store.prune(Date.now(), 1000)
 */
export function hasCapability<C extends StoreCapability>(store: SessionStore, capability: C): store is SessionStore & StoreCapabilities[C] {
  const methods: readonly string[] = capabilityMethods[capability]
  return methods.every((method) => typeof (store as unknown as Record<string, unknown>)[method] === 'function')
}

/**
 * `store` as one with `capability`, or a `TypeError` that says which is missing and who needs it.
 * @example
 * const subjects = requireCapability(store, 'subjects', 'subjectSessions')
 */
export function requireCapability<C extends StoreCapability>(store: SessionStore, capability: C, neededBy: string): SessionStore & StoreCapabilities[C] {
  if (hasCapability(store, capability)) return store
  const methods = capabilityMethods[capability].join(', ')
  throw new TypeError(`${neededBy}: the store lacks the ${capability} capability (${methods})`)
}
