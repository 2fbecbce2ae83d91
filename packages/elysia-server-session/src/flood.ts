/**
 * @module flood
 * Per-address flood accounting. New sessions and bad cookies are counted per client address in a
 * fixed window; past the threshold a flood is reported, once per address per window, and every
 * request is still answered normally: behind a proxy the app does not trust, or a carrier-grade
 * NAT, all clients share one address, and refusing it would lock everyone out.
 *
 * Blocking is opt-in (`blockSeconds`). It counts only cookies that fail the signature or are
 * malformed, which a browser never sends unprompted (new visitors and expired IDs are innocent).
 * A blocked address is still served, only without a stored session; requests made while it is
 * blocked are not counted and do not extend the block. Memory is bounded: the least recently
 * seen addresses are forgotten first.
 */

export type FloodOptions = {
  /** New sessions plus bad cookies per address per window that make a flood; 0 turns counting off. @default 600 */
  threshold?: number
  /** Window length in seconds. @default 60 */
  windowSeconds?: number
  /**
   * 0: detect only, never refuse anyone. Above 0: an address that sent more than `threshold` bad
   * cookies (failed signature, malformed) in one window gets no new sessions for this many
   * seconds; it is still answered, and valid sessions keep working. @default 0
   */
  blockSeconds?: number
  /** Addresses tracked at most; when full, the least recently seen are forgotten, a 64th at a time. @default 10000 */
  maxAddresses?: number
}

export const FLOOD_DEFAULTS: Required<FloodOptions> = { threshold: 600, windowSeconds: 60, blockSeconds: 0, maxAddresses: 10_000 }

/** What is counted: a session created, or a cookie that failed the signature or is malformed. */
export type FloodKind = 'created' | 'bad'

/** What one counted event did: `flood` crossed the threshold, `block` started a block. */
export type FloodVerdict = 'flood' | 'block' | undefined

type Counter = { windowStart: number; count: number; bad: number; blockedUntil: number }

export type FloodGuard = {
  /** False when the threshold is 0: callers may skip looking up addresses at all. */
  readonly enabled: boolean
  /** Counts one event, unless the address is blocked (then nothing changes). */
  note(address: string, kind: FloodKind, now: number): FloodVerdict
  /** Seconds until `address` may create sessions again; 0 when it may now (always 0 without blocking). */
  blockedFor(address: string, now: number): number
}

/**
 * @example
 * const guard = createFloodGuard({ threshold: 100, blockSeconds: 300 })
 * if (guard.note(address, 'bad', Date.now()) === 'block') log.warn(`blocking ${address}`)
 */
export function createFloodGuard(options: FloodOptions = {}): FloodGuard {
  const { threshold, windowSeconds, blockSeconds, maxAddresses } = { ...FLOOD_DEFAULTS, ...options }
  if (threshold <= 0) return { enabled: false, note: () => undefined, blockedFor: () => 0 }
  const windowMs = windowSeconds * 1000
  const blockMs = blockSeconds * 1000
  const counters = new Map<string, Counter>()
  const forgetBatch = Math.ceil(maxAddresses / 64)
  return {
    enabled: true,
    note(address, kind, now) {
      let counter = counters.get(address)
      if (counter && counter.blockedUntil > now) return undefined
      counters.delete(address) // re-inserted below: Map order is recency order
      // A new window, or the end of a block: counting starts over.
      if (!counter || counter.blockedUntil !== 0 || now - counter.windowStart >= windowMs) {
        counter = { windowStart: now, count: 0, bad: 0, blockedUntil: 0 }
      }
      if (counters.size >= maxAddresses) {
        // One scan forgets a batch: JavaScriptCore finds a Map's oldest entry by scanning the holes
        // that deletes left at its front (~15 µs per call once full of distinct addresses).
        let forgotten = 0
        for (const oldest of counters.keys()) {
          counters.delete(oldest)
          if (++forgotten >= forgetBatch) break
        }
      }
      counters.set(address, counter)
      counter.count++
      if (kind === 'bad' && ++counter.bad === threshold + 1 && blockMs > 0) {
        counter.blockedUntil = now + blockMs
        return 'block'
      }
      return counter.count === threshold + 1 ? 'flood' : undefined
    },
    blockedFor(address, now) {
      if (blockMs === 0) return 0
      const blockedUntil = counters.get(address)?.blockedUntil ?? 0
      return blockedUntil > now ? Math.ceil((blockedUntil - now) / 1000) : 0
    },
  }
}
