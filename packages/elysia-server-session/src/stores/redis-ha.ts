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
 * - SCAN visits every primary.
 *
 * Durability: with `replicaWaitMs`, each record write is followed by `WAIT 1 replicaWaitMs` on a
 * pool of connections of their own (WAIT blocks whatever is queued behind it on a connection), and
 * the write fails (503) unless a replica has it. Without it, Redis replicates asynchronously and
 * a write acknowledged just before its primary dies can be lost.
 */
import type { Cluster, Redis } from 'ioredis'
import type { SessionRecord, SessionStore, SessionSummary } from '../store'
import { damagedRecordReporter } from './records'
import * as codec from './redis-codec'
import * as scripts from './redis-cluster-scripts'
import type { Script } from './redis-scripts'

/** An ioredis client: a `Cluster`, or a `Redis` (for instance one connected through Sentinel). */
export type IoredisClient = Cluster | Redis

export type RedisHaOptions = {
  prefix: string
  commandTimeoutMs: number
  /** 0: acknowledge when the primary has the write; else wait this long for a replica to have it. */
  replicaWaitMs: number
  warn: (message: string) => void
  /** Whether `close()` disconnects `client` (false for a client the caller passed in). */
  owned: boolean
}

/** Connections (duplicates of the client) that carry the writes and their WAITs when `replicaWaitMs` is set. */
const WAIT_CONNECTIONS = 4

const RENAME_TRIES = 3
type Replies = [Error | null, unknown][] & [[Error | null, any], [Error | null, any]]
const DAY_MS = 86_400_000

/** @internal The store over `client`; see `redisClusterStore` and `redisSentinelStore`. */
export function redisHaStore(client: IoredisClient, options: RedisHaOptions): SessionStore {
  const { prefix, commandTimeoutMs, replicaWaitMs, warn } = options
  const waiters = Array.from({ length: replicaWaitMs > 0 ? WAIT_CONNECTIONS : 0 }, (): IoredisClient =>
    client.isCluster ? (client as Cluster).duplicate() : (client as Redis).duplicate())
  const reportDamaged = damagedRecordReporter(warn)
  const inflight = new Set<Promise<unknown>>()
  const recordKey = (key: string) => `${prefix}{${key}}`
  const indexKey = (subject: string) => `${prefix}subject:${subject}`
  let closed = false
  let next = 0
  let alone = false
  let down = false
  // Connection errors are reported once per outage (ioredis prints unhandled ones itself).
  const report = (error: Error) => {
    if (!down && !closed) warn(`session store: Redis: ${error.message}`)
    down = true
  }
  client.on('error', report).on('node error', report).on('ready', () => {
    if (down && !closed) warn('session store: Redis connection restored')
    down = false
  })
  for (const waiter of waiters) waiter.on('error', () => {}).on('node error', () => {})

  const readiness = new WeakMap<IoredisClient, Promise<void>>()
  /** Resolves once `redis` is ready (the caller's timer bounds the wait): commands never queue inside ioredis. */
  const ready = (redis: IoredisClient) => {
    if (redis.status === 'ready') return
    let pending = readiness.get(redis)
    if (!pending) {
      pending = new Promise<void>((resolve) => redis.once('ready', () => (readiness.delete(redis), resolve())))
      readiness.set(redis, pending)
    }
    return pending
  }
  /** Runs `work` once `redis` is ready; rejects after `ms` whatever happens, and never sends after that. */
  const call = <T>(work: () => Promise<T>, redis: IoredisClient = client, ms = commandTimeoutMs): Promise<T> => {
    if (closed) return Promise.reject(new Error('session store is closed'))
    const result = new Promise<T>((resolve, reject) => {
      let late = false
      const timer = setTimeout(() => {
        late = true
        reject(Object.assign(new Error(`Redis did not answer within ${ms} ms`), { code: 'ERR_REDIS_TIMEOUT' }))
      }, ms)
      Promise.resolve(ready(redis))
        .then(() => (late ? undefined : work().then(resolve, reject)))
        .finally(() => clearTimeout(timer))
    })
    inflight.add(result)
    result.then(() => inflight.delete(result), () => inflight.delete(result))
    return result
  }
  const evalsha = async (redis: IoredisClient, { sha, lua }: Script, keys: string[], args: string[]): Promise<any> => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, prefix, ...args)
    } catch (error) {
      if (!String((error as Error).message).includes('NOSCRIPT')) throw error
      return redis.eval(lua, keys.length, ...keys, prefix, ...args)
    }
  }
  /** A script on `key`'s slot; `write` ones wait for a replica when `replicaWaitMs` is set. */
  const run = (script: Script, key: string, args: string[], write = false): Promise<any> => {
    if (!write || replicaWaitMs === 0) return call(() => evalsha(client, script, [key], args))
    const waiter = waiters[next++ % waiters.length]!
    return call(async () => (await waited(waiter, script, key, args, true)) ?? (await waited(waiter, script, key, args, false)), waiter, commandTimeoutMs + replicaWaitMs)
  }
  /**
   * The write with `INFO replication` in one pipeline (one node, one connection), then, when that
   * primary has a replica connected, `WAIT 1` on the same connection (WAIT counts the replicas that
   * have this connection's writes). A primary with no replica at all (its replica died, or it is
   * the replica promoted by a failover) acknowledges alone: waiting could only fail every write.
   * Undefined when the script was not cached and `cached` was tried.
   */
  const waited = async (redis: IoredisClient, { sha, lua }: Script, key: string, args: string[], cached: boolean) => {
    const pipeline = redis.pipeline()
    if (cached) pipeline.evalsha(sha, 1, key, prefix, ...args)
    else pipeline.eval(lua, 1, key, prefix, ...args)
    const [[error, reply], [infoError, info]] = (await pipeline.info('replication').exec()) as Replies
    if (error && cached && String(error.message).includes('NOSCRIPT')) return undefined
    if (error || infoError) throw error ?? infoError
    if (/^connected_slaves:0\b/m.test(String(info))) {
      if (!alone) warn('session store: a Redis primary has no replica connected: its writes are acknowledged without one')
      alone = true
      return reply
    }
    const [, [waitError, replicas]] = (await redis.pipeline().exists(key).call('WAIT', '1', String(replicaWaitMs)).exec()) as Replies
    if (waitError) throw waitError
    if (Number(replicas) < 1) throw Object.assign(new Error(`no replica confirmed the write within ${replicaWaitMs} ms`), { code: 'ERR_REDIS_NOT_REPLICATED' })
    alone = false
    return reply
  }
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
    for (const node of masters()) {
      let cursor = '0'
      do {
        const [nextCursor, keys] = await call(() => node.scan(cursor, 'MATCH', match, 'COUNT', 1000)) // a node connects on demand
        cursor = nextCursor
        for (const key of keys) if (!(await each(key))) return
      } while (cursor !== '0')
    }
  }
  const one = async (key: string, at: number): Promise<SessionRecord | 'gone' | { movedTo: string }> => {
    const pairs: string[] | null = await run(scripts.GET, recordKey(key), [String(at)])
    if (!pairs) return 'gone'
    if (pairs[0] === 'M') return { movedTo: pairs[1]! }
    return codec.recordOf(pairs) ?? (reportDamaged(key), 'gone')
  }

  return {
    async get(key, at) {
      const found = await one(key, at)
      if (found === 'gone') return undefined
      if ('data' in found) return found
      const target = await one(found.movedTo, at)
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
    async touch(key, at, expiresAt) {
      return (await written(key, await run(scripts.WRITE.TOUCH, recordKey(key), codec.touchArgs(at, expiresAt), true))) === 1
    },
    async rename(fromKey, toKey, at, graceUntil = at) {
      const leave = [String(graceUntil), String(codec.SLACK_MS), toKey]
      for (let i = 0; i < RENAME_TRIES; i++) {
        const seize = i === RENAME_TRIES - 1 // the record kept changing: see redis-cluster-scripts.ts
        const read: [string, string, string[]] | null = await run(scripts.RENAME_READ, recordKey(fromKey), [String(at), ...(seize ? leave : [])], seize)
        if (!read) {
          if (i > 0) await call(() => client.del(recordKey(toKey))) // the copy of a record that died meanwhile
          return false
        }
        const [fingerprint, pttl, pairs] = read
        await run(scripts.RENAME_WRITE, recordKey(toKey), [String(at), pttl, ...pairs], true)
        if (seize || (await run(scripts.RENAME_SWAP, recordKey(fromKey), [String(at), ...leave, fingerprint], true)) === 1) {
          const subject = codec.recordOf(pairs)?.subject
          if (subject !== undefined) await bind(subject, toKey, pttl)
          return true
        }
      }
      return false // not reached: the last try seizes
    },
    async destroy(key) {
      await call(() => client.del(recordKey(key))) // a stale index entry is dropped when read
    },
    async listSubject(subject, at) {
      const members = await call(() => client.smembers(indexKey(subject)))
      const found: SessionSummary[] = []
      const fields = await Promise.all(members.map((key) => call(() => client.hmget(recordKey(key), '_e', '_s', '_c', '_l', '_u'))))
      for (const [i, key] of members.entries()) {
        const [e, s, c, l, ua] = fields[i]!
        if (s === subject && Number(e) > at) {
          const summary: SessionSummary = { key, createdAt: Number(c), lastSeenAt: Number(l), expiresAt: Number(e) }
          found.push(ua ? { ...summary, userAgent: ua } : summary)
        } else if (e === null || s !== subject) await call(() => client.srem(indexKey(subject), key))
      }
      return found.sort((a, b) => b.lastSeenAt - a.lastSeenAt)
    },
    async destroySubject(subject) {
      const members = await call(() => client.smembers(indexKey(subject)))
      let deleted = 0
      for (const key of members) deleted += await run(scripts.DESTROY_BOUND, recordKey(key), [subject], true)
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
    async stats(at) {
      let live = 0
      let expired = 0
      await scan(async (key) => {
        const [l, e]: [number, number] = await run(scripts.STATS, key, [String(at)])
        live += l
        expired += e
        return true
      })
      return { live, expired }
    },
    async ping() {
      await call(() => client.ping())
    },
    async close() {
      if (closed) return
      closed = true
      await Promise.allSettled(inflight)
      for (const redis of options.owned ? [client, ...waiters] : waiters) redis.disconnect()
    },
  }
}
