/**
 * @module redis-ha-calls
 * How the Cluster and Sentinel store (`redis-ha.ts`) talks to ioredis: every call bounded by a
 * timeout and sent only on a ready connection (never queued inside ioredis, never sent after the
 * caller was told it failed), scripts by SHA, connection errors reported once per outage, and the
 * replica wait: writes and their WAITs on connections of their own.
 */
import type { Cluster, Redis } from 'ioredis'
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
/** A client not ready for this long is disconnected and connected anew. */
const STUCK_MS = 3000
type Replies = [Error | null, unknown][] & [[Error | null, any], [Error | null, any]]

/** @internal `call` (any command, bounded), `run` (a script on a key's slot) and `close`. */
export function haCalls(client: IoredisClient, options: RedisHaOptions) {
  const { prefix, commandTimeoutMs, replicaWaitMs, warn } = options
  const waiters = Array.from({ length: replicaWaitMs > 0 ? WAIT_CONNECTIONS : 0 }, (): IoredisClient =>
    client.isCluster ? (client as Cluster).duplicate() : (client as Redis).duplicate())
  const inflight = new Set<Promise<unknown>>()
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
  const stuck = new Map<IoredisClient, number>()
  /**
   * A client that has not been ready for STUCK_MS starts over, as if new: measured here, ioredis
   * sometimes stays `reconnecting` for good after a Sentinel failover on a loaded machine.
   */
  const revive = (redis: IoredisClient) => {
    const at = performance.now()
    const since = stuck.get(redis)
    if (since === undefined) return void stuck.set(redis, at)
    if (at - since < STUCK_MS || redis.status === 'connecting' || redis.status === 'connect') return
    stuck.set(redis, at)
    redis.disconnect()
    redis.connect().catch(() => {}) // failures arrive as 'error' events
  }
  /** Resolves once `redis` is ready (the caller's timer bounds the wait): commands never queue inside ioredis. */
  const ready = (redis: IoredisClient) => {
    if (redis.status === 'ready') return void stuck.delete(redis)
    if (!closed) revive(redis)
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
        reject(Object.assign(new Error(`Redis did not answer within ${ms} ms (connection ${redis.status})`), { code: 'ERR_REDIS_TIMEOUT' }))
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
  const close = async () => {
    if (closed) return
    closed = true
    await Promise.allSettled(inflight)
    for (const redis of options.owned ? [client, ...waiters] : waiters) redis.disconnect()
  }
  return { call, run, close }
}
