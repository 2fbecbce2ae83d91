/**
 * @module flood
 * Per-address counting of session creations and bad cookies. Past a threshold within a window,
 * an address may not create sessions for a while, so bots cannot fill the store. Memory is
 * bounded: the least recently seen addresses are forgotten first.
 */

export type FloodOptions = {
  /** Creations plus bad cookies allowed per address per window; 0 turns the guard off. @default 600 */
  threshold?: number
  /** Window length in seconds. @default 60 */
  windowSeconds?: number
  /** How long an address that crossed the threshold may not create sessions, in seconds. @default 300 */
  blockSeconds?: number
  /** Addresses tracked at most. @default 10000 */
  maxAddresses?: number
}

type Counter = { windowStart: number; count: number; blockedUntil: number }

export type FloodGuard = {
  /** False when the threshold is 0: callers may skip looking up addresses at all. */
  readonly enabled: boolean
  /** Counts one creation or bad cookie. @returns true when this one crossed the threshold. */
  note(address: string, now: number): boolean
  /** Seconds until `address` may create sessions again; 0 when it may now. */
  blockedFor(address: string, now: number): number
}

export function createFloodGuard(options: FloodOptions = {}): FloodGuard {
  const { threshold = 600, windowSeconds = 60, blockSeconds = 300, maxAddresses = 10_000 } = options
  const counters = new Map<string, Counter>()
  if (threshold <= 0) return { enabled: false, note: () => false, blockedFor: () => 0 }
  return {
    enabled: true,
    note(address, now) {
      let counter = counters.get(address)
      counters.delete(address) // re-inserted below: Map order is recency order
      if (!counter || now - counter.windowStart >= windowSeconds * 1000) {
        counter = { windowStart: now, count: 0, blockedUntil: counter?.blockedUntil ?? 0 }
      }
      counter.count++
      if (counters.size >= maxAddresses) counters.delete(counters.keys().next().value!)
      counters.set(address, counter)
      if (counter.count === threshold + 1) {
        counter.blockedUntil = now + blockSeconds * 1000
        return true
      }
      return false
    },
    blockedFor(address, now) {
      const blockedUntil = counters.get(address)?.blockedUntil ?? 0
      return blockedUntil > now ? Math.ceil((blockedUntil - now) / 1000) : 0
    },
  }
}
