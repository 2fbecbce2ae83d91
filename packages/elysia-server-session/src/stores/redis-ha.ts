/**
 * @module redis-ha
 * The store behind `redisClusterStore` and `redisSentinelStore`: the single-node store's layout and
 * scripts (`redis-codec.ts`, `redis-scripts.ts`) over an ioredis client, laid out for Redis Cluster.
 *
 * Keys: a record is `prefix{key}` (a hash tag, so a record and the grace pointer left at its key
 * share a slot); a subject's index is `prefix + 'subject:' + subject`, in a slot of its own. Each
 * script touches one slot; what spans slots is a separate step, ordered so that a crash between
 * the steps leaves nothing that the next read does not repair:
 * - Index: a known new subject is added to its index before the record is written, and the
 *   script's notes (subject, TTL) refresh it after. Entries are never removed at write time: `listSubject`
 *   and `destroySubject` drop those whose record is gone or bound to someone else.
 * - Rename: copy to the new key's slot, then turn the old key into a pointer (or delete it) if
 *   the record did not change meanwhile, else copy again (`redis-cluster-scripts.ts`).
 * - Grace pointers: `destroy` deletes the record, then the pointer it names in `_o`; a pointer
 *   opens only while its record names it, so one left behind by a crash opens nothing.
 * - SCAN visits every primary.
 *
 * Durability: with `replicaWaitMs`, each record write is followed by `WAIT 1 replicaWaitMs` on a
 * pool of connections of their own (`redis-ha-calls.ts`), and the write fails (503) unless a
 * replica has it. Without it, Redis replicates asynchronously and a write acknowledged just before
 * its primary dies can be lost.
 */
import type { Cluster } from 'ioredis'
import type { SessionRecord, SessionSummary } from '../store'
import type { FullSessionStore } from '../capabilities'
import { damagedRecordReporter } from './records'
import * as codec from './redis-codec'
import * as scripts from './redis-cluster-scripts'
import { haCalls, type IoredisClient, type RedisHaOptions } from './redis-ha-calls'

export type { IoredisClient, RedisHaOptions }

const RENAME_TRIES = 3
const DAY_MS = 86_400_000

/** @internal The store over `client`; see `redisClusterStore` and `redisSentinelStore`. */
export function redisHaStore(client: IoredisClient, options: RedisHaOptions): FullSessionStore {
  const { call, run, close } = haCalls(client, options)
  const { prefix, warn } = options
  const reportDamaged = damagedRecordReporter(warn)
  /** A key as records and pointers name it (`_m`, `_o`): in braces, so that prefix + it is the Redis key. */
  const tagged = (key: string) => `{${key}}`
  const recordKey = (key: string) => prefix + tagged(key)
  /** Deletes the grace pointer at `old` (a `{key}`) if it points at `key`'s record. */
  const dropPointer = (old: string | null | undefined, key: string) => (old ? run(scripts.DROP_POINTER, prefix + old, [old, tagged(key)], true) : undefined)
  const indexKey = (subject: string) => `${prefix}subject:${subject}`
  /** Adds `key` to `subject`'s index, the index living at least `ttl` ms. */
  const bind = (subject: string, key: string, ttl: string) => run(scripts.BIND, indexKey(subject), [subject, key, ttl])
  /** A noting script's reply, after the index refreshes its notes ask for. */
  const written = async (key: string, [reply, notes]: [any, string[]]) => {
    for (let i = 0; i < notes.length; i += 2) await bind(notes[i]!, key, notes[i + 1]!)
    return reply
  }
  const masters = () => (client.isCluster ? (client as Cluster).nodes('master') : [client])
  /** Each key under the prefix, on every primary, one SCAN batch at a time. */
  const scan = async (each: (key: string) => Promise<boolean>) => {
    const match = prefix.replace(/[*?[\]\\]/g, '\\$&') + '*'
    for (const node of await call(async () => masters())) { // once ready: before, a cluster knows no nodes
      let cursor = '0'
      do {
        const [nextCursor, keys] = await call(() => node.scan(cursor, 'MATCH', match, 'COUNT', 1000)) // a node connects on demand
        cursor = nextCursor
        for (const key of keys) if (!(await each(key))) return
      } while (cursor !== '0')
    }
  }
  /** The record at `key`, or where its pointer points; `from`: the pointer the record must name. */
  const one = async (key: string, at: number, from?: string): Promise<SessionRecord | 'gone' | { movedTo: string }> => {
    const pairs: string[] | null = await run(scripts.GET, recordKey(key), [String(at), ...(from ? [tagged(from)] : [])])
    if (!pairs) return 'gone'
    if (pairs[0] === 'M') return { movedTo: pairs[1]!.slice(1, -1) }
    return codec.recordOf(pairs) ?? (reportDamaged(key), 'gone')
  }

  return {
    async get(key, at) {
      const found = await one(key, at)
      if (found === 'gone') return undefined
      if ('data' in found) return found
      const target = await one(found.movedTo, at, key)
      return target !== 'gone' && 'data' in target ? { ...target, movedTo: found.movedTo } : undefined
    },
    async create(key, record, maxBytes) {
      const args = codec.createArgs(record, maxBytes)
      if (!args) return
      if (record.subject !== undefined) await bind(record.subject, key, args[0]!)
      await written(key, await run(scripts.WRITE.CREATE, recordKey(key), args, true))
    },
    async update(key, changes, options) {
      const args = codec.updateArgs(changes, options)
      if (typeof changes.subject === 'string') await bind(changes.subject, key, args[2] || String(DAY_MS)) // the notes set the real TTL
      const reply = codec.updateResult(await written(key, await run(scripts.WRITE.UPDATE, recordKey(key), args, true)), options.maxBytes)
      return reply === null ? void reportDamaged(key) : reply
    },
    async increment(key, field, by, options) {
      const args = codec.incrementArgs(field, by, options)
      return codec.incrementResult(await written(key, await run(scripts.WRITE.INCREMENT, recordKey(key), args, true)), field, options.maxBytes)
    },
    async take(key, fields, options) {
      const reply = codec.takeResult(await written(key, await run(scripts.WRITE.TAKE, recordKey(key), codec.takeArgs(fields, options), true)))
      return reply === null ? (reportDamaged(key), {}) : reply
    },
    async touch(key, at, expiresAt) {
      return (await written(key, await run(scripts.WRITE.TOUCH, recordKey(key), codec.touchArgs(at, expiresAt), true))) === 1
    },
    async rename(fromKey, toKey, at, graceUntil = at, userAgent) {
      const leave = [String(graceUntil), String(codec.SLACK_MS), tagged(toKey)]
      for (let i = 0; i < RENAME_TRIES; i++) {
        const seize = i === RENAME_TRIES - 1 // the record kept changing: see redis-cluster-scripts.ts
        const read: [string, string, string[]] | null = await run(scripts.RENAME_READ, recordKey(fromKey), [String(at), ...(seize ? leave : [])], seize)
        if (!read) {
          if (i > 0) await call(() => client.del(recordKey(toKey))) // the copy of a record that died meanwhile
          return false
        }
        const [fingerprint, pttl, pairs] = read
        const record = codec.recordOf(pairs)
        const pointer = record && Math.min(graceUntil, record.expiresAt) > at ? tagged(fromKey) : ''
        // The copy carries the renewing User-Agent, when there is one (the fingerprint is the old record's).
        const copy = userAgent === undefined ? pairs : [...pairs.filter((_, j) => pairs[j - (j % 2)] !== '_u'), '_u', userAgent]
        await run(scripts.RENAME_WRITE, recordKey(toKey), [String(at), pttl, pointer, ...copy], true)
        if (seize || (await run(scripts.RENAME_SWAP, recordKey(fromKey), [String(at), ...leave, fingerprint], true)) === 1) {
          // An older pointer at the record's previous key opens nothing now (the copy names `from`): delete it.
          for (let j = 0; j < pairs.length; j += 2) if (pairs[j] === '_o') await dropPointer(pairs[j + 1], fromKey)
          if (record?.subject !== undefined) await bind(record.subject, toKey, pttl)
          return true
        }
      }
      return false // not reached: the last try seizes
    },
    async destroy(key) {
      await dropPointer(await run(scripts.DESTROY, recordKey(key), [], true), key) // a stale index entry is dropped when read
    },
    async listSubject(subject, at) {
      const members = await call(() => client.smembers(indexKey(subject)))
      const found: SessionSummary[] = []
      const fields = await Promise.all(members.map((key) => call(() => client.hmget(recordKey(key), '_e', '_s', '_c', '_l', '_u', '_k'))))
      for (const [i, key] of members.entries()) {
        const [e, s, c, l, ua, kept] = fields[i]!
        if (s === subject && Number(e) > at) {
          const summary: SessionSummary = { key, createdAt: Number(c), lastSeenAt: Number(l), expiresAt: Number(e), remembered: kept === '1' }
          found.push(ua ? { ...summary, userAgent: ua } : summary)
        } else if (e === null || s !== subject) await call(() => client.srem(indexKey(subject), key))
      }
      return found.sort((a, b) => b.lastSeenAt - a.lastSeenAt)
    },
    async destroySubject(subject) {
      const members = await call(() => client.smembers(indexKey(subject)))
      let deleted = 0
      for (const key of members) {
        const pointer: string | null = await run(scripts.DESTROY_BOUND, recordKey(key), [subject], true)
        if (pointer !== null) deleted++
        await dropPointer(pointer, key)
      }
      // Only the members handled here: a session bound meanwhile keeps its entry.
      if (members.length > 0) await call(() => client.srem(indexKey(subject), ...members))
      return deleted
    },
    async destroyAll() {
      let deleted = 0
      await scan(async (key) => ((deleted += await run(scripts.DESTROY_ALL, key, [])), true))
      return deleted
    },
    async prune(at, limit) {
      let deleted = 0
      if (limit > 0) await scan(async (key) => (deleted += await run(scripts.PRUNE, key, [String(at), '1'])) < limit)
      return deleted
    },
    stats: (at) => codec.sumStats(scan, (key) => run(scripts.STATS, key, [String(at)])),
    async ping() {
      await call(() => client.ping())
    },
    close,
  }
}
