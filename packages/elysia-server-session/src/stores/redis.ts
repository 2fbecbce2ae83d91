/**
 * @module redis
 * A store on Redis (or Valkey) through Bun's built-in client, so that many instances share sessions.
 *
 * Layout: one HASH per session at `prefix + key`: metadata `_c` `_l` `_e` `_r` (created, last seen,
 * expires, renewed), `_s` `_u` (subject, User-Agent), and one field per data key, named by the key
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
import { SessionTooLargeError, SessionValueError } from '../errors'
import type { SessionData, SessionRecord, SessionSummary } from '../store'
import type { FullSessionStore } from '../capabilities'
import { damagedRecordReporter, decodeData, encodeData } from './records'
import { handshakeRefusal } from './redis-auth'
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

const SLACK_MS = 1000
/** After a failed connection attempt, calls fail at once for this long instead of retrying. */
const RETRY_MS = 100

const TYPES: Record<string, string> = { '"': 'string', '{': 'object', '[': 'object', n: 'object', t: 'boolean', f: 'boolean' }

/** Flat `[field, value, ...]` of `data`: JSON-string names, JSON values; undefined values go to `unset`. */
function fieldsOf(data: SessionData, unset: string[] = []): string[] {
  const out: string[] = []
  for (const [name, value] of Object.entries(data)) {
    const json = JSON.stringify(value)
    if (json === undefined) unset.push(JSON.stringify(name))
    else out.push(JSON.stringify(name), json)
  }
  return out
}

const ttl = (expiresAt: number, at: number) => String(Math.max(1, Math.ceil(expiresAt - at)) + SLACK_MS)
/** The scripts' expiresAt and TTL arguments; empty strings keep the record's deadline as it is. */
const deadline = (expiresAt: number | undefined, at: number) =>
  expiresAt === undefined ? ['', ''] : [String(expiresAt), ttl(expiresAt, at)]

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
  /** Data from a flat `[field, value, ...]` reply, or undefined (reported) when it does not decode. */
  const dataOf = (key: string, pairs: string[]): SessionData | undefined => {
    const parts: string[] = []
    for (let i = 0; i < pairs.length; i += 2) if (pairs[i]!.startsWith('"')) parts.push(`${pairs[i]}:${pairs[i + 1]}`)
    const data = decodeData(`{${parts.join(',')}}`)
    if (!data) reportDamaged(key)
    return data
  }
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
  const refuse = (reply: string[], maxBytes: number): never => { throw new SessionTooLargeError(Number(reply[1]), maxBytes) }

  return {
    async get(key, at) {
      const pairs: string[] | null = await run(scripts.GET, [prefix + key], [String(at)])
      const data = pairs && dataOf(key, pairs)
      if (!pairs || !data) return undefined
      const meta = new Map<string, string>()
      for (let i = 0; i < pairs.length; i += 2) if (pairs[i]!.startsWith('_')) meta.set(pairs[i]!, pairs[i + 1]!)
      const [createdAt, lastSeenAt, expiresAt] = ['_c', '_l', '_e'].map((name) => Number(meta.get(name) ?? NaN)) as [number, number, number]
      const [subject, userAgent, movedTo] = [meta.get('_s'), meta.get('_u'), meta.get('_m')]
      const renewedAt = Number(meta.get('_r') ?? createdAt)
      // Times that are not numbers: a damaged record, which is no session.
      if (![createdAt, lastSeenAt, expiresAt, renewedAt].every(Number.isFinite)) return void reportDamaged(key)
      const record: SessionRecord = { data, createdAt, lastSeenAt, expiresAt, renewedAt }
      return Object.assign(record, subject !== undefined && { subject }, userAgent !== undefined && { userAgent }, movedTo !== undefined && { movedTo })
    },
    async create(key, { data, createdAt, lastSeenAt, expiresAt, renewedAt, subject, userAgent }, maxBytes) {
      encodeData(data, maxBytes) // throws when too large
      if (expiresAt <= lastSeenAt) return // dead on arrival: nothing to keep
      const meta = ['_c', createdAt, '_l', lastSeenAt, '_e', expiresAt, '_r', renewedAt].map(String)
      if (subject !== undefined) meta.push('_s', subject)
      if (userAgent !== undefined) meta.push('_u', userAgent)
      const bind = subject === undefined ? '' : `=${subject}`
      await run(scripts.CREATE, [prefix + key], [ttl(expiresAt, lastSeenAt), bind, ...meta, ...fieldsOf(data)])
    },
    async update(key, changes, { now: at, expiresAt, maxBytes }) {
      const unset: string[] = []
      const set = fieldsOf(changes.set, unset)
      for (const name of changes.unset) unset.push(JSON.stringify(name))
      const bind = changes.subject === undefined ? '' : changes.subject === null ? '-' : `=${changes.subject}`
      const head = [String(at), ...deadline(expiresAt, at), String(maxBytes), bind, String(set.length)]
      const reply: string[] | null = await run(scripts.UPDATE, [prefix + key], [...head, ...set, ...unset])
      if (!reply) return undefined
      if (reply[0] === 'BIG') refuse(reply, maxBytes)
      return dataOf(key, reply.slice(1))
    },
    async increment(key, field, by, { now: at, expiresAt, maxBytes }) {
      if (!Number.isFinite(by)) throw new SessionValueError(`cannot increment "${field}" by ${by}`)
      const args = [String(at), ...deadline(expiresAt, at), String(maxBytes), JSON.stringify(field), String(by)]
      const reply: string[] | null = await run(scripts.INCREMENT, [prefix + key], args)
      if (!reply) return undefined
      if (reply[0] === 'BIG') refuse(reply, maxBytes)
      if (reply[0] === 'TYPE') throw new SessionValueError(`cannot increment "${field}": it holds a ${TYPES[reply[1]!] ?? 'non-number'}`)
      if (reply[0] === 'INF') throw new SessionValueError(`cannot increment "${field}": the result is not a finite number`)
      return Number(reply[1])
    },
    async touch(key, at, expiresAt) {
      return (await run(scripts.TOUCH, [prefix + key], [String(at), String(expiresAt), ttl(expiresAt, at)])) === 1
    },
    async rename(fromKey, toKey, at, graceUntil = at) {
      const args = [String(at), String(graceUntil), String(SLACK_MS)]
      return (await run(scripts.RENAME, [prefix + fromKey, prefix + toKey], args)) === 1
    },
    async destroy(key) {
      await run(scripts.DESTROY, [prefix + key], [])
    },
    async listSubject(subject, at) {
      const flat: string[] = await run(scripts.LIST, [`${prefix}subject:${subject}`], [String(at), subject])
      const found: SessionSummary[] = []
      for (let i = 0; i < flat.length; i += 5) {
        const [key, c, l, e, ua] = flat.slice(i, i + 5) as [string, string, string, string, string]
        const summary: SessionSummary = { key, createdAt: Number(c), lastSeenAt: Number(l), expiresAt: Number(e) }
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
    async stats(at) {
      let live = 0
      let expired = 0
      await scan(async (keys) => {
        const [l, e]: [number, number] = await run(scripts.STATS, keys, [String(at)])
        live += l
        expired += e
        return true
      })
      return { live, expired }
    },
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
