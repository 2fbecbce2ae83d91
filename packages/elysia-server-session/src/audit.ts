/**
 * @module audit
 * Audit events and flood accounting for the manager. Events name a session by a salted hash of
 * its ID (HMAC with the first secret), never by the ID itself.
 */
import { createFloodGuard } from './flood'
import type { ResolvedSessionOptions, SessionEvent } from './options'

/** Who sent the request, as far as the app can tell. */
export type ClientInfo = { address?: string; userAgent?: string }

export type Auditor = {
  /** The salted hash that stands for `id` in events. */
  hash(id: string): string
  emit(event: Omit<SessionEvent, 'at'>): void
  /** Counts a creation or a bad cookie against the client's address. */
  count(client: ClientInfo): void
  /** Seconds until the client's address may create sessions again; 0 when it may now. */
  blockedFor(client: ClientInfo): number
}

export function createAuditor(options: ResolvedSessionOptions): Auditor {
  const { secrets, now, onEvent, logger } = options
  const flood = createFloodGuard(options.flood)
  // One keyed HMAC state, copied per hash (as in signing.ts): no key schedule per event.
  const keyed = new Bun.CryptoHasher('sha256', `audit:${secrets[0]}`)
  const emit = (event: Omit<SessionEvent, 'at'>) => {
    try {
      onEvent({ ...event, at: now() })
    } catch (error) {
      logger.error(`session onEvent hook failed: ${String(error)}`)
    }
  }
  return {
    hash: (id) => keyed.copy().update(id).digest('base64url').slice(0, 22),
    emit,
    count(client) {
      if (!flood.enabled) return
      const { address } = client
      if (address === undefined || !flood.note(address, now())) return
      logger.warn(`session flood: ${address} passed the limit of new sessions and bad cookies; refusing new sessions from it for a while`)
      emit({ type: 'flood', address })
    },
    blockedFor: (client) => (!flood.enabled || client.address === undefined ? 0 : flood.blockedFor(client.address, now())),
  }
}
