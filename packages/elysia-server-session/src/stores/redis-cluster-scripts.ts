/**
 * @module redis-cluster-scripts
 * The scripts of the Cluster and Sentinel stores (`redis-ha.ts`). In a cluster a script may touch
 * the keys of one slot only, and a session's record (`prefix{key}`), its subject's index and the
 * record a rename moves it to live in three different slots. So:
 * - The write scripts are those of `redis-scripts.ts`, unchanged but for `bind`/`unbind`: here
 *   `bind` notes the subject and TTL in a list the script returns next to its reply (`{reply, notes}`),
 *   and the caller updates the index in a separate step. `unbind` does nothing: an index entry whose
 *   record is gone or bound elsewhere is dropped when the index is read.
 * - `get` follows a grace pointer in a second call, and `rename` is three steps (see RENAME_*).
 */
import { CREATE, HELPERS, INCREMENT, PRUNE, script, STATS, TAKE, TOUCH, UPDATE, DESTROY_ALL, type Script } from './redis-scripts'

const NOTES = `
local NOTES = {}
local function bind(subject, key, ttl) NOTES[#NOTES + 1] = subject; NOTES[#NOTES + 1] = tostring(ttl) end
local function unbind(subject, key) end
`

/** `single`, with index updates returned as notes instead of made: its reply becomes `{reply, {subject, ttl, ...}}`. */
function noting(single: Script): Script {
  if (!single.lua.startsWith(HELPERS)) throw new Error('a Redis script does not start with the shared helpers')
  const body = single.lua.slice(HELPERS.length)
  return script(`${HELPERS}${NOTES}local function body()\n${body}\nend
local reply = body()
if type(reply) == 'table' and reply.err then return reply end
return {reply, NOTES}`)
}

export const WRITE = { CREATE: noting(CREATE), UPDATE: noting(UPDATE), INCREMENT: noting(INCREMENT), TAKE: noting(TAKE), TOUCH: noting(TOUCH) }
/** One key at a time (a SCAN batch spans slots); the same scripts as the single-node store. */
export { DESTROY_ALL, PRUNE, STATS }

/** KEYS: the index (`prefix + 'subject:' + subject`). ARGV: P, subject, member, ttl. The shared `bind`. */
export const BIND = script(`${HELPERS}
bind(ARGV[2], ARGV[3], ARGV[4])
return 1`)

/**
 * ARGV: P, now, and for a pointer's target the pointer's `{key}`. The live record's flat HGETALL,
 * {'M', '{target}'} for a pointer in its grace window, else nil. As on a single node, a target
 * opens only while it names the pointer in `_o`. (Here `_m` and `_o` hold keys as `{key}`: what
 * the shared scripts' `string.sub(KEYS[1], #P + 1)` gives, and with P before it the key itself.)
 */
export const GET = script(`${HELPERS}
local now = tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local t = map(all)
if t._m then
  if live(t._p, now) then return {'M', t._m} end
  return false
end
if not live(t._e, now) or (ARGV[3] and t._o ~= ARGV[3]) then return false end
return all`)

/** KEYS: an old key. ARGV: P, its `{key}`, the record's `{key}`. The shared `drop_pointer`: deletes it if it points at the record. */
export const DROP_POINTER = script(`${HELPERS}
drop_pointer(ARGV[2], ARGV[3])
return 1`)

/** KEYS: a record. ARGV: P. Deletes it; returns the `{key}` of its grace pointer, or nil. */
export const DESTROY = script(`local old = redis.call('HGET', KEYS[1], '_o')
redis.call('DEL', KEYS[1])
return old`)

// A rename copies the record to its new key's slot, then turns the old key into a pointer (or
// deletes it) only if the record did not change since the copy (a request's write in between
// would be lost): else the caller copies again. A crash between the steps leaves the old record
// as it was (the caller was not told the new ID) and an orphan copy that expires by its TTL.
// Under writes that keep changing the record, the last try seizes it instead: the old key
// becomes the pointer as the copy is read, so later writes to it find no live record, as after a
// single-node rename (and a crash before the copy is written loses that session).
const RENAME_HELPERS = `
local function fingerprint(all)
  local t = {}
  for i = 1, #all, 2 do t[#t + 1] = all[i] .. '\\0' .. all[i + 1] end
  table.sort(t)
  return redis.sha1hex(table.concat(t, '\\0'))
end
-- Replaces the record t at KEYS[1] by a pointer to \`to\` until the earlier of \`grace\` and its deadline, or by nothing.
local function leave(t, now, grace, slack, to)
  redis.call('DEL', KEYS[1])
  if tonumber(t._e) < tonumber(grace) then grace = t._e end
  if tonumber(grace) > now then
    redis.call('HSET', KEYS[1], '_m', to, '_p', grace, '_c', t._c, '_l', tostring(now))
    redis.call('PEXPIRE', KEYS[1], string.format('%d', math.ceil(tonumber(grace) - now) + tonumber(slack)))
  end
end
`

/**
 * KEYS: from. ARGV: P, now, then for a seizing read graceUntil, slack, to. {fingerprint, pttl,
 * flat HGETALL} of the live record, else nil. Seizing, the record is left as RENAME_SWAP leaves it.
 */
export const RENAME_READ = script(`${HELPERS}${RENAME_HELPERS}
local now = tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local t = map(all)
if not live(t._e, now) then return false end
local reply = {fingerprint(all), tostring(redis.call('PTTL', KEYS[1])), all}
if ARGV[3] then leave(t, now, ARGV[3], ARGV[4], ARGV[5]) end
return reply`)

/**
 * KEYS: to. ARGV: P, now, pttl, '' or the old `{key}` that will point here, then the record's
 * field/value pairs. Writes the copy, renewed at `now`, naming its pointer in `_o`.
 */
export const RENAME_WRITE = script(`${HELPERS}
redis.call('DEL', KEYS[1])
hset(KEYS[1], ARGV, 5, #ARGV)
redis.call('HSET', KEYS[1], '_r', ARGV[2])
redis.call('HDEL', KEYS[1], '_o')
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], '_o', ARGV[4]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`)

/**
 * KEYS: from. ARGV: P, now, graceUntil, slack, to, fingerprint. 0 when the record changed since
 * RENAME_READ; else 1, and `from` is a pointer to `to` until the grace deadline (the earlier of
 * `graceUntil` and the record's), or gone. The pointer lives in the OLD key's slot and names the
 * new key, which GET's caller reads in a second call.
 */
export const RENAME_SWAP = script(`${HELPERS}${RENAME_HELPERS}
local all = redis.call('HGETALL', KEYS[1])
if #all == 0 or fingerprint(all) ~= ARGV[6] then return 0 end
leave(map(all), tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5])
return 1`)

/** KEYS: a record. ARGV: P, subject. Deletes it when it is bound to `subject`: then the `{key}` of its grace pointer or ''; else nil. */
export const DESTROY_BOUND = script(`local r = redis.call('HMGET', KEYS[1], '_s', '_o')
if r[1] ~= ARGV[2] then return false end
redis.call('DEL', KEYS[1])
return r[2] or ''`)
