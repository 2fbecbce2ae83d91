/**
 * @module redis
 * A store on Redis (or Valkey) through Bun's built-in client, so that many instances share sessions.
 *
 * Layout: one HASH per session at `prefix + key`: metadata `_c` `_l` `_e` `_r` (created, last seen,
 * expires, renewed), `_s` `_u` `_k` (subject, User-Agent, remembered), and one field per data key, named by the key
 * as a JSON string (it starts with `"`, which no metadata field does) and holding the value's JSON
 * text. The Lua scripts never decode or re-encode JSON (cjson reformats numbers and confuses `{}`
 * with `[]`): they move the texts `JSON.stringify` made, so data reads back exactly as written, and
 * the data's size is the sum of `"key":value` texts plus braces and commas: the bytes `encodeData`
 * counts. `increment` checks that the stored text is a JSON number and adds in Lua, in doubles as JS
 * does. A rename's grace pointer is a hash with `_m` (target) and `_p` (deadline) and no `_e`, so no
 * write finds it live; the record names it in `_o`, so that deleting the record deletes it too, and a
 * pointer the record does not name opens nothing. A subject's index is a SET at `prefix + 'subject:' + subject`.
 *
 * Every write is one script (EVALSHA, EVAL on NOSCRIPT): atomic without MULTI on the shared,
 * auto-pipelined connection. Scripts compare `_e` with the caller's `now`; keys also get a native TTL
 * of `expiresAt - now` plus 1 s of slack, so expired records vanish by themselves. `prune`, `stats`
 * and `destroyAll` walk the prefix with SCAN: for tools and tests, not for the request path.
 *
 * Faults fail fast: the store's own client never queues commands while disconnected, the store
 * reconnects on demand, and each call, connecting included, fails after `commandTimeoutMs`. A call
 * that timed out on a live connection may still have been applied by Redis.
 */
import { RedisClient } from 'bun'
import type { SessionSummary } from '../store'
import type { FullSessionStore } from '../capabilities'
import { damagedRecordReporter } from './records'
import { handshakeRefusal } from './redis-auth'
import * as codec from './redis-codec'
import * as scripts from './redis-scripts'

export type RedisStoreOptions = {
  /** `redis://[user:password@]host:port[/db]`, `rediss://` for TLS. @default env REDIS_URL or redis://127.0.0.1:6379 */
  url?: string
  /** Put before every key; use one per application sharing a Redis. @default 'sess:' */
  prefix?: string
  /** An existing client to use instead of one made from `url`; `close()` leaves it open. */
  client?: RedisClient
  /** Milliseconds a call (connecting included) may take before it fails. @default 500 */
  commandTimeoutMs?: number
  /** Unused: each call carries its own time. Accepted for symmetry with the other stores. */
  now?: () => number
  warn?: (message: string) => void
}

/** After a failed connection attempt, calls fail at once for this long instead of retrying. */
const RETRY_MS = 100

/**
 * @example
 * const store = redisStore({ url: process.env.REDIS_URL, prefix: 'myapp:sess:' })
 * new Elysia().use(session({ store, secrets: [process.env.SESSION_SECRET!] }))
 */
export function redisStore(options: RedisStoreOptions = {}): FullSessionStore {
  const { url = Bun.env.REDIS_URL || 'redis://127.0.0.1:6379', prefix = 'sess:', commandTimeoutMs = 500, warn = console.warn } = options
  if (typeof prefix !== 'string' || prefix === '') throw new TypeError('redisStore: `prefix` must be a non-empty string (the store deletes and counts what lies under it)')
  const client =
    options.client ??
    new RedisClient(url, {
      enableOfflineQueue: false, // a command sent while disconnected fails now, and never runs later
      autoReconnect: false, // the store reconnects on demand, see `ready`
      connectionTimeout: Math.max(commandTimeoutMs, 2000),
    })
  const reportDamaged = damagedRecordReporter(warn)
  const inflight = new Set<Promise<unknown>>()
  let closed = false
  let connecting: Promise<unknown> | undefined
  let failedAt = -Infinity
  let lastError: unknown
  let down = false

  /** Connects when needed: one attempt at a time, none within RETRY_MS of a failed one. */
  const ready = async () => {
    if (client.connected) return
    if (performance.now() - failedAt < RETRY_MS) throw lastError
    connecting ??= client.connect().then(
      () => {
        if (down) warn('session store: Redis connection restored')
        down = false
      },
      async (error) => {
        // Bun says "Connection closed" for a refused handshake too: ask the server for its reason.
        const refusal = (error as { code?: string }).code === 'ERR_REDIS_CONNECTION_CLOSED' && !options.client
          ? await handshakeRefusal(url, commandTimeoutMs)
          : undefined
        failedAt = performance.now()
        lastError = refusal ? Object.assign(new Error(`Redis refused the connection: ${refusal.message}`), { code: refusal.code }) : error
        if (!down) warn(refusal ? `session store: Redis refused the credentials: ${refusal.message}` : `session store: cannot reach Redis: ${(error as Error).message}`)
        down = true
        throw lastError
      }
    ).finally(() => (connecting = undefined))
    await connecting
  }
  if (!options.client) ready().catch(() => {}) // connect now: a Redis that is down is reported at start
  /** Runs `work` after `ready`; rejects after commandTimeoutMs whatever happens. */
  const call = <T>(work: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new Error('session store is closed'))
    const result = new Promise<T>((resolve, reject) => {
      let late = false
      const error = () => Object.assign(new Error(`Redis did not answer within ${commandTimeoutMs} ms`), { code: 'ERR_REDIS_TIMEOUT' })
      const timer = setTimeout(() => void ((late = true), reject(error())), commandTimeoutMs)
      ready()
        .then(() => (late ? Promise.reject(error()) : work())) // never send after the caller was told it failed
        .then(resolve, reject)
        .finally(() => clearTimeout(timer))
    })
    inflight.add(result)
    result.then(() => inflight.delete(result), () => inflight.delete(result))
    return result
  }
  const run = ({ sha, lua }: scripts.Script, keys: string[], args: string[]): Promise<any> =>
    call(async () => {
      const rest = [String(keys.length), ...keys, prefix, ...args]
      try {
        return await client.send('EVALSHA', [sha, ...rest])
      } catch (error) {
        if (!String((error as Error).message).includes('NOSCRIPT')) throw error
        return client.send('EVAL', [lua, ...rest])
      }
    })
  /** Walks the keys under the prefix in SCAN batches while `each` returns true. */
  const scan = async (each: (keys: string[]) => Promise<boolean>) => {
    const match = prefix.replace(/[*?[\]\\]/g, '\\$&') + '*'
    let cursor = '0'
    do {
      const [next, keys]: [string, string[]] = await call(() => client.send('SCAN', [cursor, 'MATCH', match, 'COUNT', '1000']))
      cursor = next
      if (keys.length > 0 && !(await each(keys))) return
    } while (cursor !== '0')
  }
  /** `decoded`, or undefined with `key` reported when it is null (a damaged record). */
  const checked = <T>(key: string, decoded: T | null | undefined): T | undefined => (decoded === null || decoded === undefined ? void reportDamaged(key) : decoded)

  return {
    async get(key, at) {
      const pairs: string[] | null = await run(scripts.GET, [prefix + key], [String(at)])
      return pairs ? checked(key, codec.recordOf(pairs)) : undefined
    },
    async create(key, record, maxBytes) {
      const args = codec.createArgs(record, maxBytes)
      if (args) await run(scripts.CREATE, [prefix + key], args)
    },
    async update(key, changes, options) {
      const reply = codec.updateResult(await run(scripts.UPDATE, [prefix + key], codec.updateArgs(changes, options)), options.maxBytes)
      return reply === undefined ? undefined : checked(key, reply)
    },
    async increment(key, field, by, options) {
      const args = codec.incrementArgs(field, by, options)
      return codec.incrementResult(await run(scripts.INCREMENT, [prefix + key], args), field, options.maxBytes)
    },
    async take(key, fields, options) {
      const reply = codec.takeResult(await run(scripts.TAKE, [prefix + key], codec.takeArgs(fields, options)))
      return reply === undefined ? undefined : checked(key, reply) ?? {}
    },
    async touch(key, at, expiresAt) {
      return (await run(scripts.TOUCH, [prefix + key], codec.touchArgs(at, expiresAt))) === 1
    },
    async rename(fromKey, toKey, at, graceUntil = at, userAgent) {
      const args = [String(at), String(graceUntil), String(codec.SLACK_MS), userAgent === undefined ? '' : `=${userAgent}`]
      return (await run(scripts.RENAME, [prefix + fromKey, prefix + toKey], args)) === 1
    },
    async destroy(key) {
      await run(scripts.DESTROY, [prefix + key], [])
    },
    async listSubject(subject, at) {
      const flat: string[] = await run(scripts.LIST, [`${prefix}subject:${subject}`], [String(at), subject])
      const found: SessionSummary[] = []
      for (let i = 0; i < flat.length; i += 6) {
        const [key, c, l, e, ua, kept] = flat.slice(i, i + 6) as [string, string, string, string, string, string]
        const summary: SessionSummary = { key, createdAt: Number(c), lastSeenAt: Number(l), expiresAt: Number(e), remembered: kept === '1' }
        found.push(ua ? { ...summary, userAgent: ua.slice(1) } : summary)
      }
      return found.sort((a, b) => b.lastSeenAt - a.lastSeenAt)
    },
    async destroySubject(subject) {
      return run(scripts.DESTROY_SUBJECT, [`${prefix}subject:${subject}`], [subject])
    },
    async destroyAll() {
      let deleted = 0
      await scan(async (keys) => ((deleted += await run(scripts.DESTROY_ALL, keys, [])), true))
      return deleted
    },
    async prune(at, limit) {
      // Redis deletes records by itself (native TTLs); this sweeps those expired by the caller's clock.
      let deleted = 0
      await scan(async (keys) => (deleted += await run(scripts.PRUNE, keys, [String(at), String(limit - deleted)])) < limit)
      return deleted
    },
    stats: (at) => codec.sumStats(scan, (keys) => run(scripts.STATS, keys, [String(at)])),
    async ping() {
      await call(() => client.send('PING', []))
    },
    async close() {
      if (closed) return
      closed = true
      await Promise.allSettled(inflight)
      if (!options.client) client.close()
    },
  }
}
