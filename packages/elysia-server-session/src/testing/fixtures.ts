/** Records, keys and times shared by the conformance suites. */
import { storeKey } from '../ids'
import type { SessionRecord } from '../store'

export const T0 = 1_700_000_000_000
export const HOUR = 3_600_000
export const MAX = 16_384

export function record(data: SessionRecord['data'], at = T0, expiresAt = at + HOUR, extra: Partial<SessionRecord> = {}): SessionRecord {
  return { data, createdAt: at, lastSeenAt: at, expiresAt, renewedAt: at, ...extra }
}

let counter = 0
/** A distinct store key per call, shaped like the real ones. */
export const key = () => storeKey(`conformance-${process.pid}-${Date.now()}-${counter++}`)

/** The options of a write at `at` that moves the deadline to `expiresAt`. */
export const write = (at: number, expiresAt = at + HOUR) => ({ now: at, expiresAt, maxBytes: MAX })
