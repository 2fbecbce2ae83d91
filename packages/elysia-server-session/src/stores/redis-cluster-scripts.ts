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
import { CREATE, HELPERS, INCREMENT, PRUNE, script, STATS, TOUCH, UPDATE, DESTROY_ALL, type Script } from './redis-scripts'

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

export const WRITE = { CREATE: noting(CREATE), UPDATE: noting(UPDATE), INCREMENT: noting(INCREMENT), TOUCH: noting(TOUCH) }
/** One key at a time (a SCAN batch spans slots); the same scripts as the single-node store. */
export { DESTROY_ALL, PRUNE, STATS }

/** KEYS: the index (`prefix + 'subject:' + subject`). ARGV: P, subject, member, ttl. The shared `bind`. */
export const BIND = script(`${HELPERS}
bind(ARGV[2], ARGV[3], ARGV[4])
return 1`)

/** ARGV: P, now. The live record's flat HGETALL, {'M', target} for a pointer in its grace window, else nil. */
export const GET = script(`${HELPERS}
local now = tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local t = map(all)
if t._m then
  if live(t._p, now) then return {'M', t._m} end
  return false
end
if not live(t._e, now) then return false end
return all`)

// A rename copies the record to its new key's slot, then turns the old key into a pointer (or
// deletes it) only if the record did not change since the copy (a request's write in between
// would be lost): else the caller copies again. A crash between the steps leaves the old record
// as it was (the caller was not told the new ID) and an orphan copy that expires by its TTL.
const FINGERPRINT = `
local function fingerprint(all)
  local t = {}
  for i = 1, #all, 2 do t[#t + 1] = all[i] .. '\\0' .. all[i + 1] end
  table.sort(t)
  return redis.sha1hex(table.concat(t, '\\0'))
end
`

/** KEYS: from. ARGV: P, now. {fingerprint, pttl, flat HGETALL} of the live record, else nil. */
export const RENAME_READ = script(`${HELPERS}${FINGERPRINT}
local all = redis.call('HGETALL', KEYS[1])
if not live(map(all)._e, tonumber(ARGV[2])) then return false end
return {fingerprint(all), tostring(redis.call('PTTL', KEYS[1])), all}`)

/** KEYS: to. ARGV: P, now, pttl, then the record's field/value pairs. Writes the copy, renewed at `now`. */
export const RENAME_WRITE = script(`${HELPERS}
redis.call('DEL', KEYS[1])
hset(KEYS[1], ARGV, 4, #ARGV)
redis.call('HSET', KEYS[1], '_r', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`)

/**
 * KEYS: from. ARGV: P, now, graceUntil, slack, fingerprint, to. 0 when the record changed since
 * RENAME_READ; else 1, and `from` is a pointer to `to` until the grace deadline (the earlier of
 * `graceUntil` and the record's), or gone. The pointer lives in the OLD key's slot and names the
 * new key, which GET's caller reads in a second call.
 */
export const RENAME_SWAP = script(`${HELPERS}${FINGERPRINT}
local now = tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
if #all == 0 or fingerprint(all) ~= ARGV[5] then return 0 end
local t = map(all)
redis.call('DEL', KEYS[1])
local grace = ARGV[3]
if tonumber(t._e) < tonumber(grace) then grace = t._e end
if tonumber(grace) > now then
  redis.call('HSET', KEYS[1], '_m', ARGV[6], '_p', grace, '_c', t._c, '_l', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], string.format('%d', math.ceil(tonumber(grace) - now) + tonumber(ARGV[4])))
end
return 1`)

/** KEYS: a record. ARGV: P, subject. Deletes it when it is bound to `subject`; 1 if it did. */
export const DESTROY_BOUND = script(`if redis.call('HGET', KEYS[1], '_s') == ARGV[2] then redis.call('DEL', KEYS[1]); return 1 end
return 0`)
