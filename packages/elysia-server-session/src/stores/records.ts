/**
 * @module records
 * What every store does the same way: merging a request's changes onto the current data, the
 * size limit, the `increment` rule, decoding stored JSON, and pruning on a timer.
 */
import { SessionTooLargeError, SessionValueError } from '../errors'
import type { PruneCapability } from '../capabilities'
import type { SessionChanges, SessionData } from '../store'

/** The current data with the request's changed keys written over it. */
export function applyChanges(current: SessionData, changes: SessionChanges): SessionData {
  const merged: SessionData = { ...current, ...changes.set }
  for (const key of changes.unset) delete merged[key]
  return merged
}

/** Deletes `fields` from `data` in place. @returns the values they held (missing ones left out). */
export function takeFields(data: SessionData, fields: readonly string[]): SessionData {
  const taken: SessionData = {}
  for (const field of fields) {
    if (!Object.hasOwn(data, field)) continue
    taken[field] = data[field]!
    delete data[field]
  }
  return taken
}

/** JSON of `data`, or `SessionTooLargeError` when its UTF-8 size exceeds `maxBytes`. */
export function encodeData(data: SessionData, maxBytes: number): string {
  const json = JSON.stringify(data)
  // JSON length is a lower bound of its UTF-8 size: count bytes only when it can matter.
  if (json.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(json)
    if (bytes > maxBytes) throw new SessionTooLargeError(bytes, maxBytes)
  }
  return json
}

/** Stored JSON back to data, or `undefined` when it is not a JSON object (a damaged record). */
export function decodeData(json: string): SessionData | undefined {
  try {
    const data: unknown = JSON.parse(json)
    return data !== null && typeof data === 'object' && !Array.isArray(data)
      ? (data as SessionData)
      : undefined
  } catch {
    return undefined
  }
}

/** Adds `by` to `data[field]` in place (missing counts as 0). @returns the new value. */
export function addToField(data: SessionData, field: string, by: number): number {
  const current = data[field] ?? 0
  if (typeof current !== 'number') {
    throw new SessionValueError(`cannot increment "${field}": it holds a ${typeof current}`)
  }
  const next = current + by
  data[field] = next
  return next
}

/** Logs a damaged record once per key (bounded), so a bad row cannot flood the log. */
export function damagedRecordReporter(warn: (message: string) => void) {
  const seen = new Set<string>()
  return (key: string) => {
    if (seen.has(key)) return
    if (seen.size >= 1000) seen.clear()
    seen.add(key)
    warn(`session store: a record's data could not be decoded; treated as no session`)
  }
}

export type PrunerOptions = {
  /** Milliseconds between sweeps; 0 turns pruning off. */
  intervalMs: number
  /** Records deleted per batch; a sweep runs batches until one comes back short. */
  batchSize: number
  /**
   * Wait a random 50-150 % of `intervalMs` before each sweep, so that instances sharing one
   * database do not all sweep at once.
   */
  jitter?: boolean
  now: () => number
  onError: (error: unknown) => void
  /** Told how many records each sweep deleted (for metrics). */
  onPruned?: (count: number) => void
}

/** Deletes expired records in batches on an unref'd timer. @returns a function that stops it. */
export function startPruner(store: PruneCapability, options: PrunerOptions): () => void {
  if (options.intervalMs <= 0) return () => {}
  let running = false
  const sweep = async () => {
    if (running) return
    running = true
    try {
      let deleted = 0
      for (;;) {
        const batch = await store.prune(options.now(), options.batchSize)
        deleted += batch
        if (batch < options.batchSize) break
      }
      options.onPruned?.(deleted)
    } catch (error) {
      options.onError(error)
    } finally {
      running = false
    }
  }
  if (!options.jitter) {
    const timer = setInterval(sweep, options.intervalMs)
    timer.unref()
    return () => clearInterval(timer)
  }
  let timer: ReturnType<typeof setTimeout>
  let stopped = false
  const schedule = () => {
    if (stopped) return
    timer = setTimeout(() => void sweep().finally(schedule), options.intervalMs * (0.5 + Math.random()))
    timer.unref()
  }
  schedule()
  return () => {
    stopped = true
    clearTimeout(timer)
  }
}
