/**
 * @module postgres-combine
 * Parallel increments of one session's field, combined. PostgreSQL serialises writes to one row
 * on its row lock, each waiting for the previous commit (an fsync), so a session under many
 * parallel requests would run at one commit per increment. Instead, increments of a (key, field)
 * that arrive while one is in flight wait, and go out together as one `UPDATE` adding their sum;
 * each caller then gets the value it would have seen in sequence (the total minus what the
 * callers after it added), and every caller is answered only after that commit.
 *
 * Only whole-number steps are combined (their sums are exact below 2^53). A combined increment
 * that is refused (a wrong type, too large) is retried one by one, so each caller gets its own
 * answer; a fault fails every caller of the batch, as it would have failed each alone.
 */
import { SessionTooLargeError, SessionValueError } from '../errors'
import type { WriteOptions } from '../store'

type Increment = (key: string, field: string, by: number, options: WriteOptions) => Promise<number | undefined>
type Waiter = { by: number; options: WriteOptions; resolve: (value: number | undefined) => void; reject: (error: unknown) => void }

/** The options one combined write runs with: the last caller that moves the deadline, else the last caller. */
function combinedOptions(batch: readonly Waiter[]): WriteOptions {
  return (batch.findLast((w) => w.options.expiresAt !== undefined) ?? batch.at(-1)!).options
}

/** Wraps `send` (one statement per call) so that concurrent calls on one (key, field) share statements. */
export function combineIncrements(send: Increment): Increment {
  /** Per (key, field, limit) with a write in flight: the callers waiting for the next one. */
  const lanes = new Map<string, Waiter[]>()

  const oneByOne = async (key: string, field: string, batch: readonly Waiter[]) => {
    for (const w of batch) await send(key, field, w.by, w.options).then(w.resolve, w.reject)
  }
  const flush = async (lane: string, key: string, field: string) => {
    for (let batch = lanes.get(lane)!; batch.length > 0; batch = lanes.get(lane)!) {
      lanes.set(lane, [])
      const sum = batch.reduce((total, w) => total + w.by, 0)
      try {
        const total = await send(key, field, sum, combinedOptions(batch))
        let before = total === undefined ? 0 : total - sum
        for (const w of batch) w.resolve(total === undefined ? undefined : (before += w.by))
      } catch (error) {
        if (error instanceof SessionValueError || error instanceof SessionTooLargeError) await oneByOne(key, field, batch)
        else for (const w of batch) w.reject(error)
      }
    }
    lanes.delete(lane)
  }

  return (key, field, by, options) => {
    if (!Number.isSafeInteger(by)) return send(key, field, by, options)
    const lane = `${key}\u0000${field}\u0000${options.maxBytes}`
    const waiting = lanes.get(lane)
    if (waiting) return new Promise((resolve, reject) => waiting.push({ by, options, resolve, reject }))
    lanes.set(lane, [])
    return send(key, field, by, options).finally(() => void flush(lane, key, field))
  }
}
