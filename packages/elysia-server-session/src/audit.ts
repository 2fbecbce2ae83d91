/**
 * @module audit
 * Audit events and flood accounting for the manager. Events name a session by a salted hash of
 * its ID (HMAC with the first secret), never by the ID itself.
 */
import { createFloodGuard, FLOOD_DEFAULTS, type FloodKind } from './flood'
import type { ResolvedSessionOptions, SessionEvent } from './options'

/** Who sent the request, as far as the app can tell. */
export type ClientInfo = { address?: string; userAgent?: string }

export type Auditor = {
  /** The salted hash that stands for `id` in events. */
  hash(id: string): string
  /**
   * Sends `event` to the hook. With `id`, its `session` is that ID's hash, computed when the hook
   * first reads it: most hooks count events by type, and the HMAC is a new visitor's largest cost.
   */
  emit(event: Omit<SessionEvent, 'at' | 'session'>, id?: string): void
  /** Counts a new session or a bad cookie against the client's address; a blocked address is not counted. */
  count(client: ClientInfo, kind: FloodKind): void
  /** True while the client's address may not create sessions (only with flood blocking on). */
  blocked(client: ClientInfo): boolean
}

/** Sends an event to the `onEvent` hook, stamped with the time; a hook that throws is logged. */
export function eventEmitter({ now, onEvent, logger }: ResolvedSessionOptions) {
  return (event: Omit<SessionEvent, 'at'>) => {
    try {
      // Stamped in place, not spread: a spread would read a lazy `session` (see Auditor.emit).
      ;(event as SessionEvent).at = now()
      onEvent(event as SessionEvent)
    } catch (error) {
      logger.error(`session onEvent hook failed: ${String(error)}`)
    }
  }
}

export function createAuditor(options: ResolvedSessionOptions): Auditor {
  const { secrets, now, logger } = options
  const { threshold, windowSeconds, blockSeconds } = { ...FLOOD_DEFAULTS, ...options.flood }
  const flood = createFloodGuard(options.flood)
  // One keyed HMAC state, copied per hash (as in signing.ts): no key schedule per event.
  const keyed = new Bun.CryptoHasher('sha256', `audit:${secrets[0]}`)
  const emit = eventEmitter(options)
  const hash = (id: string) => keyed.copy().update(id).digest('base64url').slice(0, 22)
  return {
    hash,
    emit(event, id) {
      if (id !== undefined) {
        let hashed: string | undefined
        Object.defineProperty(event, 'session', { enumerable: true, configurable: true, get: () => (hashed ??= hash(id)) })
      }
      emit(event)
    },
    count(client, kind) {
      if (!flood.enabled) return
      const { address } = client
      const verdict = address === undefined ? undefined : flood.note(address, kind, now())
      if (verdict === 'flood') {
        logger.warn(`session flood: ${address} made more than ${threshold} new sessions and bad cookies within ${windowSeconds} s; still answered normally`)
        emit({ type: 'flood', address })
      } else if (verdict === 'block') {
        logger.warn(`session flood: ${address} sent more than ${threshold} bad cookies within ${windowSeconds} s; answered without new sessions for ${blockSeconds} s (valid sessions keep working)`)
        emit({ type: 'flood', address, blockSeconds })
      }
    },
    blocked: (client) => flood.enabled && client.address !== undefined && flood.blockedFor(client.address, now()) > 0,
  }
}
