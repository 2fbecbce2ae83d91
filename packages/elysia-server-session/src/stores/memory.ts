/**
 * @module memory
 * A bounded in-process store with expiry: for tests and single-process development. Data dies
 * with the process, so it warns when started with NODE_ENV=production.
 */
import type { SessionData, SessionRecord, SessionSummary, WriteOptions } from '../store'
import type { FullSessionStore } from '../capabilities'
import { addToField, applyChanges, decodeData, encodeData, startPruner, takeFields } from './records'

export type MemoryStoreOptions = {
  /**
   * Most records kept; when full, the least recently written ones are evicted, a 64th of this
   * many at a time. "Recently" within a quarter of this many writes: a record written again that
   * soon keeps its place in the order, as if written when it last moved (a Map re-insert per
   * write costs a returning visit more than the rest of the store's work). From 2,048 records on,
   * the store is several Maps of at least 1,024 (at most 64), each with its own share and order,
   * so the order is by age within a record's Map. The default holds a busy development server's
   * visitors (10,000 evicted returning ones once that many were stored) and bounds what a flood
   * of new visitors takes (100,000 made the process 160 MB). @default 50000
   */
  maxRecords?: number
  /** Milliseconds between sweeps of expired records; 0 turns the sweep off. @default 60000 */
  pruneIntervalMs?: number
  now?: () => number
  warn?: (message: string) => void
  /** Told how many expired records each sweep deleted. */
  onPruned?: (count: number) => void
}

/** The deadline fields a write sets: none when the caller keeps the deadline. */
const moved = (at: number, expiresAt: number | undefined) => (expiresAt === undefined ? {} : { lastSeenAt: at, expiresAt })

/** One of the store's Maps: Map order is write order, so re-inserting on each write makes its first key the least recent. */
type Shard = { entries: Map<string, Entry>; moves: number }
/** Records per Map of a large store (a smaller one keeps a single Map), and the most Maps. */
const SHARD_RECORDS = 1024
const MAX_SHARDS = 64

/**
 * A stored record with its data as JSON text, so callers can never mutate what is stored (`decoded`
 * is that JSON parsed, kept private to spare a parse per `increment`, never handed out). A record
 * renamed with a grace window names its old key (`pointer`), where an entry with `movedTo` points
 * back at it: whatever deletes the record deletes that pointer with it.
 */
type Entry = Omit<SessionRecord, 'data'> & { json: string; pointer?: string; decoded?: SessionData; moved: number }

/**
 * @example
 * const store = memoryStore({ maxRecords: 1000 })
 * new Elysia().use(session({ store, secrets: [secret] }))
 */
export function memoryStore(options: MemoryStoreOptions = {}): FullSessionStore {
  const { maxRecords = 50_000, pruneIntervalMs = 60_000, now = Date.now, warn = console.warn } = options
  if (Bun.env.NODE_ENV === 'production') {
    warn('memory session store in production: sessions are lost on restart and not shared')
  }
  // Several Maps, each with its own write order and a share of maxRecords, instead of one: while
  // the garbage collector marks concurrently, every write to a Map makes it scan that whole Map
  // again, and a single one of 50,000 records under a flood of new visitors spent most of the
  // core on that (GC cycles of 200-600 ms; 41-50 µs of CPU per new visitor, 22-23 with several Maps).
  // A small store keeps one Map, so its eviction order is exact.
  const shardCount = Math.max(1, Math.min(MAX_SHARDS, Math.floor(maxRecords / SHARD_RECORDS)))
  const shards = Array.from({ length: shardCount }, (): Shard => ({ entries: new Map(), moves: 0 }))
  const shardRecords = Math.floor(maxRecords / shardCount)
  /** A key's Map: by its last characters, random in the keys the session layer makes. */
  const shardOf = (key: string): Shard => {
    if (shardCount === 1) return shards[0]!
    let hash = 0
    for (let i = Math.max(0, key.length - 4); i < key.length; i++) hash = (hash * 31 + key.charCodeAt(i)) | 0
    return shards[(hash >>> 0) % shardCount]!
  }
  const entryAt = (key: string) => shardOf(key).entries.get(key)
  /** The live record itself at `key` (a rename pointer is not one). */
  const live = (key: string, at: number) => {
    const entry = entryAt(key)
    return entry && entry.expiresAt > at && entry.movedTo === undefined ? entry : undefined
  }
  // Finding a Map's oldest entry costs JavaScriptCore a scan over the holes that earlier deletes
  // left at its front (about 9 µs per new session once full): one scan evicts a batch.
  const evictBatch = Math.ceil(shardRecords / 64)
  // Fewer than `recent` entries were put after one that moved within the last `recent` moves of
  // its Map, so at least 3/4 of a full Map lies before it, more than its next `recent` moves can evict.
  const recent = Math.floor(shardRecords / 4)
  /** Puts `entry` at `key` as the most recent write; `replacing` is the live entry it replaces, if any. */
  const put = (key: string, entry: Entry, replacing?: Entry) => {
    const shard = shardOf(key)
    const { entries } = shard
    if (replacing !== undefined && shard.moves - replacing.moved < recent) {
      entry.moved = replacing.moved
      if (entry !== replacing) entries.set(key, entry) // an existing key keeps its place
      return
    }
    entries.delete(key)
    if (entries.size >= shardRecords) {
      let evicted = 0
      for (const oldest of entries.keys()) {
        entries.delete(oldest)
        if (++evicted >= evictBatch) break
      }
    }
    entry.moved = shard.moves++
    entries.set(key, entry)
  }
  /** Runs `change` on the live record's decoded data and stores the result. */
  const rewrite = <T>(key: string, at: number, change: (entry: Entry, data: SessionData) => [Entry, T]) => {
    const entry = live(key, at)
    const data = entry && decodeData(entry.json)
    if (!entry || !data) return undefined
    const [next, result] = change(entry, data)
    next.decoded = undefined // `data` was decoded for this change and may be what the caller gets back
    put(key, next, entry)
    return result
  }
  /** Every entry of every Map, for the rare calls that scan the store (subjects, stats). */
  function* everyEntry(): Generator<[string, Entry]> {
    for (const { entries } of shards) yield* entries
  }
  /** Deletes the record at `key` and the grace pointer to it, if any. */
  const remove = (key: string) => {
    const pointer = entryAt(key)?.pointer
    if (pointer !== undefined && entryAt(pointer)?.movedTo === key) shardOf(pointer).entries.delete(pointer)
    return shardOf(key).entries.delete(key)
  }

  const store: FullSessionStore = {
    async get(key, at) {
      const entry = entryAt(key)
      if (!entry || entry.expiresAt <= at) return undefined
      const target = entry.movedTo === undefined ? entry : live(entry.movedTo, at)
      const data = target && decodeData(target.json)
      if (!target || !data) return undefined
      // Built field by field: two object spreads per read cost more than the rest of it.
      const { createdAt, lastSeenAt, expiresAt, renewedAt, subject, userAgent, remembered } = target
      const record: SessionRecord = { data, createdAt, lastSeenAt, expiresAt, renewedAt }
      if (subject !== undefined) record.subject = subject
      if (userAgent !== undefined) record.userAgent = userAgent
      if (remembered !== undefined) record.remembered = remembered
      if (entry.movedTo !== undefined) record.movedTo = entry.movedTo
      return record
    },
    async create(key, { data, ...meta }: SessionRecord, maxBytes) {
      put(key, { ...meta, json: encodeData(data, maxBytes), moved: 0 })
    },
    async update(key, changes, { now: at, expiresAt, maxBytes }: WriteOptions) {
      return rewrite(key, at, (entry, data) => {
        const merged = applyChanges(data, changes)
        const subject = changes.subject === undefined ? entry.subject : changes.subject ?? undefined
        const remembered = changes.remembered ?? entry.remembered
        return [{ ...entry, json: encodeData(merged, maxBytes), ...moved(at, expiresAt), subject, remembered }, merged]
      })
    },
    async increment(key, field, by, { now: at, expiresAt, maxBytes }: WriteOptions) {
      const entry = live(key, at)
      const data = entry && (entry.decoded ?? decodeData(entry.json))
      if (!entry || !data) return undefined
      const before = data[field]
      const value = addToField(data, field, by)
      let json: string
      try {
        json = encodeData(data, maxBytes)
      } catch (error) {
        if (before === undefined) delete data[field]
        else data[field] = before
        throw error
      }
      // In place: an entry is never handed out, and put() makes it the most recent write.
      entry.json = json
      entry.decoded = data
      if (expiresAt !== undefined) {
        entry.lastSeenAt = at
        entry.expiresAt = expiresAt
      }
      put(key, entry, entry)
      return value
    },
    async take(key, fields, { now: at, expiresAt, maxBytes }: WriteOptions) {
      return rewrite(key, at, (entry, data) => {
        const taken = takeFields(data, fields)
        return [{ ...entry, json: encodeData(data, maxBytes), ...moved(at, expiresAt) }, taken]
      })
    },
    async touch(key, at, expiresAt) {
      const entry = live(key, at)
      if (entry) put(key, { ...entry, lastSeenAt: at, expiresAt }, entry)
      return entry !== undefined
    },
    async rename(fromKey, toKey, at, graceUntil = at, userAgent) {
      const entry = live(fromKey, at)
      if (!entry) return false
      remove(fromKey) // with an older pointer: only the newest old key stays readable
      const grace = graceUntil > at
      put(toKey, { ...entry, renewedAt: at, pointer: grace ? fromKey : undefined, userAgent: userAgent ?? entry.userAgent })
      if (grace) {
        const expiresAt = Math.min(graceUntil, entry.expiresAt)
        put(fromKey, { json: '{}', createdAt: entry.createdAt, lastSeenAt: at, expiresAt, renewedAt: at, movedTo: toKey, moved: 0 })
      }
      return true
    },
    async destroy(key) {
      remove(key)
    },
    async listSubject(subject, at) {
      const found: SessionSummary[] = []
      for (const [key, entry] of everyEntry()) {
        if (entry.subject !== subject || !live(key, at)) continue
        const { createdAt, lastSeenAt, expiresAt, userAgent, remembered = false } = entry
        found.push({ key, createdAt, lastSeenAt, expiresAt, remembered, ...(userAgent !== undefined && { userAgent }) })
      }
      return found.sort((a, b) => b.lastSeenAt - a.lastSeenAt)
    },
    async destroySubject(subject) {
      let deleted = 0
      for (const [key, entry] of everyEntry()) if (entry.subject === subject && remove(key)) deleted++
      return deleted
    },
    async destroyAll() {
      let count = 0
      for (const { entries } of shards) {
        count += entries.size
        entries.clear()
      }
      return count
    },
    async prune(at, limit) {
      let deleted = 0
      for (const { entries } of shards) {
        for (const [key, entry] of entries) {
          if (deleted >= limit) return deleted
          if (entry.expiresAt <= at && entries.delete(key)) deleted++
        }
      }
      return deleted
    },
    async stats(at) {
      let live = 0
      let expired = 0
      let remembered = 0
      for (const [, entry] of everyEntry()) {
        if (entry.expiresAt <= at) expired++
        else if (entry.movedTo === undefined) {
          live++
          if (entry.remembered) remembered++
        }
      }
      return { live, expired, remembered }
    },
    async ping() {},
    async close() {
      stopPruner()
      for (const { entries } of shards) entries.clear()
    },
  }
  const stopPruner = startPruner(store, { intervalMs: pruneIntervalMs, batchSize: 1000, now, onError: () => {}, onPruned: options.onPruned })
  return store
}
