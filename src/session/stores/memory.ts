/**
 * @module memory
 * A bounded in-process store with expiry: for tests and single-process development. Data dies
 * with the process, so it warns when started with NODE_ENV=production.
 */
import type { SessionChanges, SessionData, SessionRecord, SessionStore, WriteOptions } from '../store'
import { addToField, applyChanges, decodeData, encodeData, startPruner } from './records'

export type MemoryStoreOptions = {
  /** Most records kept; when full, the least recently written one is evicted. @default 10000 */
  maxRecords?: number
  /** Milliseconds between sweeps of expired records; 0 turns the sweep off. @default 60000 */
  pruneIntervalMs?: number
  now?: () => number
  warn?: (message: string) => void
  /** Told how many expired records each sweep deleted. */
  onPruned?: (count: number) => void
}

type Entry = { json: string; createdAt: number; lastSeenAt: number; expiresAt: number }

/**
 * @example
 * const store = memoryStore({ maxRecords: 1000 })
 * new Elysia().use(session({ store, secrets: [secret] }))
 */
export function memoryStore(options: MemoryStoreOptions = {}): SessionStore {
  const { maxRecords = 10_000, pruneIntervalMs = 60_000, now = Date.now, warn = console.warn } = options
  if (Bun.env.NODE_ENV === 'production') {
    warn('memory session store in production: sessions are lost on restart and not shared')
  }
  // Map order is write order: re-inserting on each write makes the first key the least recent.
  const entries = new Map<string, Entry>()
  const live = (key: string, at: number) => {
    const entry = entries.get(key)
    return entry && entry.expiresAt > at ? entry : undefined
  }
  const put = (key: string, entry: Entry) => {
    entries.delete(key)
    if (entries.size >= maxRecords) entries.delete(entries.keys().next().value!)
    entries.set(key, entry)
  }

  const store: SessionStore = {
    async get(key, at) {
      const entry = live(key, at)
      if (!entry) return undefined
      const data = decodeData(entry.json)
      if (!data) return undefined
      return { data, createdAt: entry.createdAt, lastSeenAt: entry.lastSeenAt, expiresAt: entry.expiresAt }
    },
    async create(key, { data, createdAt, lastSeenAt, expiresAt }: SessionRecord, maxBytes) {
      put(key, { json: encodeData(data, maxBytes), createdAt, lastSeenAt, expiresAt })
    },
    async update(key, changes: SessionChanges, { now: at, expiresAt, maxBytes }: WriteOptions) {
      const entry = live(key, at)
      const current = entry && decodeData(entry.json)
      if (!entry || !current) return undefined
      const merged = applyChanges(current, changes)
      put(key, { ...entry, json: encodeData(merged, maxBytes), lastSeenAt: at, expiresAt })
      return merged
    },
    async increment(key, field, by, { now: at, expiresAt, maxBytes }: WriteOptions) {
      const entry = live(key, at)
      const data: SessionData | undefined = entry && decodeData(entry.json)
      if (!entry || !data) return undefined
      const value = addToField(data, field, by)
      put(key, { ...entry, json: encodeData(data, maxBytes), lastSeenAt: at, expiresAt })
      return value
    },
    async touch(key, at, expiresAt) {
      const entry = live(key, at)
      if (!entry) return false
      put(key, { ...entry, lastSeenAt: at, expiresAt })
      return true
    },
    async rename(fromKey, toKey, at) {
      const entry = live(fromKey, at)
      if (!entry) return false
      entries.delete(fromKey)
      put(toKey, entry)
      return true
    },
    async destroy(key) {
      entries.delete(key)
    },
    async prune(at, limit) {
      let deleted = 0
      for (const [key, entry] of entries) {
        if (deleted >= limit) break
        if (entry.expiresAt <= at) {
          entries.delete(key)
          deleted++
        }
      }
      return deleted
    },
    async stats(at) {
      let live = 0
      for (const entry of entries.values()) if (entry.expiresAt > at) live++
      return { live, expired: entries.size - live }
    },
    async ping() {},
    async close() {
      stopPruner()
      entries.clear()
    },
  }
  const stopPruner = startPruner(store, {
    intervalMs: pruneIntervalMs,
    batchSize: 1000,
    now,
    onError: () => {},
    onPruned: options.onPruned,
  })
  return store
}
