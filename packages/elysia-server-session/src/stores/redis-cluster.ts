/**
 * @module redis-cluster
 * Sessions on Redis Cluster (sharded, with replicas) or on a primary watched by Sentinel, through
 * ioredis: an optional peer dependency that only this module imports, published as
 * `elysia-server-session/redis-cluster` (single-node users keep Bun's own client in `redisStore`).
 * Layout, cross-slot steps and durability: see `redis-ha.ts`.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { FullSessionStore } from '../capabilities'
import { redisHaStore, type IoredisClient } from './redis-ha'

type CommonOptions = {
  /** Put before every key; use one per application sharing the servers. @default 'sess:' */
  prefix?: string
  /** Milliseconds a call may take (waiting for a connection included) before it fails. @default 500 */
  commandTimeoutMs?: number
  /**
   * 0: a write is acknowledged once its primary has it (fast; a primary that dies may take the last
   * writes with it). More: each write also waits up to this long for a replica to have it
   * (`WAIT 1`, on connections of their own) and fails when none does. @default 0
   */
  replicaWaitMs?: number
  /** An ioredis client to use instead of one made from the addresses; `close()` leaves it open. */
  client?: IoredisClient
  warn?: (message: string) => void
}

export type RedisClusterStoreOptions = CommonOptions & {
  /** Seed nodes, `redis://[user:password@]host:port` (rediss:// for TLS). @default env REDIS_CLUSTER_NODES (comma-separated) */
  nodes?: string[]
}

export type RedisSentinelStoreOptions = CommonOptions & {
  /** Sentinels, `host:port` or `redis://[user:password@]host:port` (credentials are the data nodes'). @default env REDIS_SENTINELS (comma-separated) */
  sentinels?: string[]
  /** The name the sentinels monitor the primary by. @default env REDIS_SENTINEL_MASTER or 'mymaster' */
  master?: string
}

export const redisClusterDefaults = { prefix: 'sess:', commandTimeoutMs: 500, replicaWaitMs: 0, master: 'mymaster' }

/** `redis://user:pass@host:port` or `host:port` as an address with its credentials. */
function addressOf(text: string) {
  const url = new URL(text.includes('://') ? text : `redis://${text}`)
  const credentials = { username: decodeURIComponent(url.username) || undefined, password: decodeURIComponent(url.password) || undefined }
  return { host: url.hostname, port: Number(url.port || 6379), tls: url.protocol === 'rediss:', ...credentials }
}
const listOf = (text: string | undefined) => (text ?? '').split(',').map((s) => s.trim()).filter(Boolean)

/** Connection settings for failing fast and recovering by itself; see the README's "Scaling out". */
function connectionOptions(addresses: ReturnType<typeof addressOf>[]): RedisOptions {
  const { username, password, tls } = addresses.find((a) => a.password || a.username) ?? addresses[0] ?? { tls: false }
  return {
    username,
    password,
    ...(tls && { tls: {} }),
    connectTimeout: 1000,
    maxRetriesPerRequest: 0, // a command cut off by a lost connection fails, and is not replayed later
    retryStrategy: (times) => Math.min(50 * times, 500), // never gives up
  }
}

/** Refuses an empty prefix (before any connection is made): `destroyAll` deletes what lies under it. */
function refuseEmptyPrefix(options: CommonOptions): void {
  const { prefix } = { ...redisClusterDefaults, ...options }
  if (typeof prefix !== 'string' || prefix === '') throw new TypeError('`prefix` must be a non-empty string (the store deletes and counts what lies under it)')
}

function storeOf(client: IoredisClient, options: CommonOptions, owned: boolean): FullSessionStore {
  const { prefix, commandTimeoutMs, replicaWaitMs } = { ...redisClusterDefaults, ...options }
  return redisHaStore(client, { prefix, commandTimeoutMs, replicaWaitMs, warn: options.warn ?? console.warn, owned })
}

/**
 * @example
 * import { redisClusterStore } from 'elysia-server-session/redis-cluster'
 * const store = redisClusterStore({ nodes: ['redis://10.0.0.1:6379', 'redis://10.0.0.2:6379'], replicaWaitMs: 200 })
 * new Elysia().use(session({ store, secrets: [process.env.SESSION_SECRET!] }))
 */
export function redisClusterStore(options: RedisClusterStoreOptions = {}): FullSessionStore {
  refuseEmptyPrefix(options)
  if (options.client) return storeOf(options.client, options, false)
  const seeds = (options.nodes ?? listOf(Bun.env.REDIS_CLUSTER_NODES)).map(addressOf)
  if (seeds.length === 0) throw new Error('redisClusterStore needs seed nodes (nodes, or REDIS_CLUSTER_NODES)')
  const { retryStrategy, ...redisOptions } = connectionOptions(seeds)
  const clusterOptions: ClusterOptions = {
    redisOptions,
    clusterRetryStrategy: retryStrategy as ClusterOptions['clusterRetryStrategy'],
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: 1000,
    slotsRefreshInterval: 1000, // notices a promoted replica within a second
  }
  return storeOf(new Cluster(seeds.map(({ host, port }) => ({ host, port })), clusterOptions), options, true)
}

/**
 * @example
 * import { redisSentinelStore } from 'elysia-server-session/redis-cluster'
 * const store = redisSentinelStore({ sentinels: ['10.0.0.1:26379', '10.0.0.2:26379', '10.0.0.3:26379'], master: 'sessions' })
 */
export function redisSentinelStore(options: RedisSentinelStoreOptions = {}): FullSessionStore {
  refuseEmptyPrefix(options)
  if (options.client) return storeOf(options.client, options, false)
  const sentinels = (options.sentinels ?? listOf(Bun.env.REDIS_SENTINELS)).map(addressOf)
  if (sentinels.length === 0) throw new Error('redisSentinelStore needs sentinels (sentinels, or REDIS_SENTINELS)')
  const client = new Redis({
    ...connectionOptions(sentinels),
    sentinels: sentinels.map(({ host, port }) => ({ host, port })),
    name: options.master ?? (Bun.env.REDIS_SENTINEL_MASTER || redisClusterDefaults.master),
    enableOfflineQueue: false, // the store waits for the connection itself, within its timeout
    sentinelRetryStrategy: (times) => Math.min(100 * times, 1000),
    sentinelCommandTimeout: 1000, // unset, a sentinel that does not answer stalls the reconnection for good
    failoverDetector: true,
    reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false), // a demoted primary: find the new one
  })
  return storeOf(client, options, true)
}
