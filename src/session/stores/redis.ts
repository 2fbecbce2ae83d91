/**
 * @module redis
 * A store on Redis (or Valkey) through Bun's built-in client, so that many server instances share
 * one set of sessions.
 *
 * Representation: one HASH per session at `prefix + key`, with the metadata fields `_c`
 * (createdAt), `_l` (lastSeenAt) and `_e` (expiresAt), and one field per data key, named by the
 * key as a JSON string (so it starts with `"`, which no metadata field does) and holding the
 * value's JSON text. The Lua scripts never decode or re-encode JSON (cjson would reformat numbers
 * and confuse `{}` with `[]`): they only move the texts `JSON.stringify` made, so data reads back
 * exactly as written. The data's serialised size is the sum of `"key":value` texts plus braces and
 * commas, the same bytes `encodeData` counts, so the scripts apply `maxBytes` on the merged data.
 * `increment` checks that the stored text is a JSON number and adds in Lua, in doubles like JS.
 *
 * Every write is one script (EVALSHA, EVAL on NOSCRIPT), so it is atomic without MULTI on the
 * shared, auto-pipelined connection. The scripts compare `_e` with the caller's `now`; the key also
 * gets a native TTL of `expiresAt - now` (plus 1 s of slack for clock differences), so expired
 * records vanish by themselves and `prune` returns 0.
 *
 * Faults fail fast: the store's own client never queues commands while disconnected, and the store
 * reconnects on demand; each call, connecting included, fails after `commandTimeoutMs`. A call
 * that timed out on a live connection may still have been applied by Redis.
 */
import { RedisClient } from 'bun'
import { SessionTooLargeError, SessionValueError } from '../errors'
import type { SessionData, SessionStore } from '../store'
import { damagedRecordReporter, decodeData, encodeData } from './records'

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

const HELPERS = `
local function live(key, now)
  local e = redis.call('HGET', key, '_e')
  return e and tonumber(e) > now
end
local function hset(key, list, from, to)
  for i = from, to, 2000 do redis.call('HSET', key, unpack(list, i, math.min(i + 1999, to))) end
end
`
const GET = `local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] == '_e' then if tonumber(all[i + 1]) > tonumber(ARGV[1]) then return all end return false end
end
return false`
const CREATE = `${HELPERS}
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('ERR session key exists') end
hset(KEYS[1], ARGV, 2, #ARGV)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`
// ARGV: now, expiresAt, ttl, maxBytes, n, n items of field/value pairs to set, then fields to delete.
const UPDATE = `${HELPERS}
local now, n = tonumber(ARGV[1]), tonumber(ARGV[5])
local all, data, e = redis.call('HGETALL', KEYS[1]), {}, nil
for i = 1, #all, 2 do
  if all[i] == '_e' then e = tonumber(all[i + 1]) elseif string.byte(all[i]) == 34 then data[all[i]] = all[i + 1] end
end
if not e or e <= now then return false end
for i = 6, 5 + n, 2 do data[ARGV[i]] = ARGV[i + 1] end
for i = 6 + n, #ARGV do data[ARGV[i]] = nil end
local size, out = 1, {'OK'}
for f, v in pairs(data) do size = size + #f + #v + 2; out[#out + 1] = f; out[#out + 1] = v end
if #out == 1 then size = 2 end
if size > tonumber(ARGV[4]) then return {'BIG', tostring(size)} end
hset(KEYS[1], ARGV, 6, 5 + n)
for i = 6 + n, #ARGV, 1000 do redis.call('HDEL', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV))) end
redis.call('HSET', KEYS[1], '_l', ARGV[1], '_e', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return out`
// ARGV: now, expiresAt, ttl, maxBytes, field, by. Numbers print as integers or as the shortest %g
// that reads back the same double, so JSON.parse gives the value JS would have computed.
const INCREMENT = `local now, field = tonumber(ARGV[1]), ARGV[5]
local all, e, old, size = redis.call('HGETALL', KEYS[1]), nil, nil, 1
for i = 1, #all, 2 do
  local f, v = all[i], all[i + 1]
  if f == '_e' then e = tonumber(v) elseif f == field then old = v
  elseif string.byte(f) == 34 then size = size + #f + #v + 2 end
end
if not e or e <= now then return false end
local x = 0
if old then
  x = string.find(old, '^%-?%d') and tonumber(old)
  if not x then return {'TYPE', string.sub(old, 1, 1)} end
end
x = x + tonumber(ARGV[6])
if x ~= x or x == math.huge or x == -math.huge then return {'INF'} end
local s
if x == math.floor(x) and math.abs(x) < 1e18 then s = string.format('%d', x)
else for p = 15, 17 do s = string.format('%.' .. p .. 'g', x); if tonumber(s) == x then break end end end
size = size + #field + #s + 2
if size > tonumber(ARGV[4]) then return {'BIG', tostring(size)} end
redis.call('HSET', KEYS[1], field, s, '_l', ARGV[1], '_e', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'OK', s}`
const TOUCH = `${HELPERS}
if not live(KEYS[1], tonumber(ARGV[1])) then return 0 end
redis.call('HSET', KEYS[1], '_l', ARGV[1], '_e', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`
const RENAME = `${HELPERS}
if not live(KEYS[1], tonumber(ARGV[1])) then return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
return 1`

type Script = { lua: string; sha: string }
const script = (lua: string): Script => ({ lua, sha: new Bun.CryptoHasher('sha1').update(lua).digest('hex') })
const SCRIPTS = { GET, CREATE, UPDATE, INCREMENT, TOUCH, RENAME }
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

/**
 * @example
 * const store = redisStore({ url: process.env.REDIS_URL, prefix: 'myapp:sess:' })
 * new Elysia().use(session({ store, secrets: [process.env.SESSION_SECRET!] }))
 */
export function redisStore(options: RedisStoreOptions = {}): SessionStore {
  const { url = Bun.env.REDIS_URL || 'redis://127.0.0.1:6379', prefix = 'sess:', commandTimeoutMs = 500 } = options
  const { warn = console.warn } = options
  const client =
    options.client ??
    new RedisClient(url, {
      enableOfflineQueue: false, // a command sent while disconnected fails now, and never runs later
      autoReconnect: false, // the store reconnects on demand, see `ready`
      connectionTimeout: Math.max(commandTimeoutMs, 2000),
    })
  const scripts = Object.fromEntries(Object.entries(SCRIPTS).map(([name, lua]) => [name, script(lua)]))
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
      (error) => {
        failedAt = performance.now()
        lastError = error
        if (!down) warn(`session store: cannot reach Redis: ${(error as Error).message}`)
        down = true
        throw error
      }
    ).finally(() => (connecting = undefined))
    await connecting
  }
  /** Runs `work` after `ready`; rejects after commandTimeoutMs whatever happens. */
  const call = <T>(work: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new Error('session store is closed'))
    const result = new Promise<T>((resolve, reject) => {
      let late = false
      const error = () => Object.assign(new Error(`Redis did not answer within ${commandTimeoutMs} ms`), { code: 'ERR_REDIS_TIMEOUT' })
      const timer = setTimeout(() => {
        late = true
        reject(error())
      }, commandTimeoutMs)
      ready()
        .then(() => (late ? Promise.reject(error()) : work())) // never send after the caller was told it failed
        .then(resolve, reject)
        .finally(() => clearTimeout(timer))
    })
    inflight.add(result)
    result.then(() => inflight.delete(result), () => inflight.delete(result))
    return result
  }
  const run = (name: keyof typeof SCRIPTS, keys: string[], args: string[]): Promise<any> =>
    call(async () => {
      const { sha, lua } = scripts[name]!
      const rest = [String(keys.length), ...keys, ...args]
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
  const refuse = (reply: string[], maxBytes: number): never => {
    throw new SessionTooLargeError(Number(reply[1]), maxBytes)
  }

  return {
    async get(key, at) {
      const pairs: string[] | null = await run('GET', [prefix + key], [String(at)])
      if (!pairs) return undefined
      const data = dataOf(key, pairs)
      if (!data) return undefined
      const meta = new Map<string, number>()
      for (let i = 0; i < pairs.length; i += 2) if (pairs[i]!.startsWith('_')) meta.set(pairs[i]!, Number(pairs[i + 1]))
      return { data, createdAt: meta.get('_c') ?? 0, lastSeenAt: meta.get('_l') ?? 0, expiresAt: meta.get('_e')! }
    },
    async create(key, { data, createdAt, lastSeenAt, expiresAt }, maxBytes) {
      encodeData(data, maxBytes) // throws when too large
      if (expiresAt <= lastSeenAt) return // dead on arrival: nothing to keep
      const meta = ['_c', String(createdAt), '_l', String(lastSeenAt), '_e', String(expiresAt)]
      await run('CREATE', [prefix + key], [ttl(expiresAt, lastSeenAt), ...meta, ...fieldsOf(data)])
    },
    async update(key, changes, { now: at, expiresAt, maxBytes }) {
      const unset: string[] = []
      const set = fieldsOf(changes.set, unset)
      for (const name of changes.unset) unset.push(JSON.stringify(name))
      const head = [String(at), String(expiresAt), ttl(expiresAt, at), String(maxBytes), String(set.length)]
      const reply: string[] | null = await run('UPDATE', [prefix + key], [...head, ...set, ...unset])
      if (!reply) return undefined
      if (reply[0] === 'BIG') refuse(reply, maxBytes)
      return dataOf(key, reply.slice(1))
    },
    async increment(key, field, by, { now: at, expiresAt, maxBytes }) {
      if (!Number.isFinite(by)) throw new SessionValueError(`cannot increment "${field}" by ${by}`)
      const args = [String(at), String(expiresAt), ttl(expiresAt, at), String(maxBytes), JSON.stringify(field), String(by)]
      const reply: string[] | null = await run('INCREMENT', [prefix + key], args)
      if (!reply) return undefined
      if (reply[0] === 'BIG') refuse(reply, maxBytes)
      if (reply[0] === 'TYPE') throw new SessionValueError(`cannot increment "${field}": it holds a ${TYPES[reply[1]!] ?? 'non-number'}`)
      if (reply[0] === 'INF') throw new SessionValueError(`cannot increment "${field}": the result is not a finite number`)
      return Number(reply[1])
    },
    async touch(key, at, expiresAt) {
      return (await run('TOUCH', [prefix + key], [String(at), String(expiresAt), ttl(expiresAt, at)])) === 1
    },
    async rename(fromKey, toKey, at) {
      return (await run('RENAME', [prefix + fromKey, prefix + toKey], [String(at)])) === 1
    },
    async destroy(key) {
      await call(() => client.send('DEL', [prefix + key]))
    },
    async prune() {
      return 0 // keys carry native TTLs: Redis deletes expired records itself
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
