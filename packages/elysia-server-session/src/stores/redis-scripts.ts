/**
 * @module redis-scripts
 * The Lua scripts of the Redis store (see `redis.ts` for the layout). Each runs atomically in
 * Redis, and none decodes JSON. ARGV[1] is always the key prefix. Times are compared with the
 * caller's `now` (an ARGV), never with Redis's clock, and are copied as given, never reformatted.
 */

/** A script and its SHA-1, for EVALSHA. */
export type Script = { lua: string; sha: string }
/** @internal Also for the Cluster variants in `redis-cluster-scripts.ts`. */
export const script = (lua: string): Script => ({ lua, sha: new Bun.CryptoHasher('sha1').update(lua).digest('hex') })

// A subject's index is a SET of store keys that lives as long as its longest-lived record.
/** @internal The prelude of every script above; `redis-cluster-scripts.ts` redefines bind/unbind after it. */
export const HELPERS = `
local P = ARGV[1]
local function bind(subject, key, ttl)
  local index = P .. 'subject:' .. subject
  redis.call('SADD', index, key)
  if redis.call('PTTL', index) < tonumber(ttl) then redis.call('PEXPIRE', index, ttl) end
end
local function unbind(subject, key) redis.call('SREM', P .. 'subject:' .. subject, key) end
-- A record renamed with a grace window names its old key in _o; that pointer dies with the record.
local function drop_pointer(old, key)
  if old and redis.call('HGET', P .. old, '_m') == key then redis.call('DEL', P .. old) end
end
local function hset(key, list, from, to)
  for i = from, to, 2000 do redis.call('HSET', key, unpack(list, i, math.min(i + 1999, to))) end
end
-- A write moves the deadline (ARGV[3], the TTL in ARGV[4]) or keeps it (ARGV[3] == ''); returns the TTL in force.
local function keep_or_move(key, argv)
  if argv[3] == '' then return tostring(redis.call('PTTL', key)) end
  redis.call('HSET', key, '_l', argv[2], '_e', argv[3])
  redis.call('PEXPIRE', key, argv[4])
  return argv[4]
end
-- A deadline that is not a number (a damaged record) is never live.
local function live(deadline, now)
  local n = tonumber(deadline)
  return n ~= nil and n > now
end
local function map(all)
  local t = {}
  for i = 1, #all, 2 do t[all[i]] = all[i + 1] end
  return t
end
`

/**
 * ARGV: P, now. The live record's flat HGETALL (a pointer's target, plus `_m`), else nil. A pointer
 * counts only while its target names it in `_o`: one the record no longer names (renamed again,
 * or left behind by a deletion that could not reach it) opens nothing.
 */
export const GET = script(`${HELPERS}
local now = tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local t = map(all)
if t._m then
  if not live(t._p, now) then return false end
  local target = redis.call('HGETALL', P .. t._m)
  local m = map(target)
  if not live(m._e, now) or m._o ~= string.sub(KEYS[1], #P + 1) then return false end
  target[#target + 1] = '_m'
  target[#target + 1] = t._m
  return target
end
if not live(t._e, now) then return false end
return all`)

/** ARGV: P, ttl, '' or '=' .. subject, then field/value pairs. An existing key is a fault. */
export const CREATE = script(`${HELPERS}
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('ERR session key exists') end
hset(KEYS[1], ARGV, 4, #ARGV)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then bind(string.sub(ARGV[3], 2), string.sub(KEYS[1], #P + 1), ARGV[2]) end
return 1`)

/**
 * ARGV: P, now, expiresAt ('' keeps the deadline), ttl, maxBytes, subject ('' keep, '-' unbind, '=' .. subject),
 * remembered ('' keep, '0', '1'), n, then
 * n items of field/value pairs to set, then fields to delete.
 * Returns nil (not live), {'BIG', size}, or {'OK', field, value, ...} of the merged data.
 */
export const UPDATE = script(`${HELPERS}
local now, op, n = tonumber(ARGV[2]), ARGV[6], tonumber(ARGV[8])
local all, data, e, s = redis.call('HGETALL', KEYS[1]), {}, nil, nil
for i = 1, #all, 2 do
  local f = all[i]
  if f == '_e' then e = tonumber(all[i + 1]) elseif f == '_s' then s = all[i + 1]
  elseif string.byte(f) == 34 then data[f] = all[i + 1] end
end
if not e or e <= now then return false end
for i = 9, 8 + n, 2 do data[ARGV[i]] = ARGV[i + 1] end
for i = 9 + n, #ARGV do data[ARGV[i]] = nil end
local size, out = 1, {'OK'}
for f, v in pairs(data) do size = size + #f + #v + 2; out[#out + 1] = f; out[#out + 1] = v end
if #out == 1 then size = 2 end
if size > tonumber(ARGV[5]) then return {'BIG', tostring(size)} end
hset(KEYS[1], ARGV, 9, 8 + n)
for i = 9 + n, #ARGV, 1000 do redis.call('HDEL', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV))) end
if ARGV[7] == '1' then redis.call('HSET', KEYS[1], '_k', '1') elseif ARGV[7] == '0' then redis.call('HDEL', KEYS[1], '_k') end
local ttl = keep_or_move(KEYS[1], ARGV)
local key = string.sub(KEYS[1], #P + 1)
if op ~= '' then
  local new = nil
  if op ~= '-' then new = string.sub(op, 2) end
  if s and s ~= new then unbind(s, key) end
  if new then redis.call('HSET', KEYS[1], '_s', new) else redis.call('HDEL', KEYS[1], '_s') end
  s = new
end
if s then bind(s, key, ttl) end
return out`)

/**
 * ARGV: P, now, expiresAt ('' keeps the deadline), ttl, maxBytes, field, by. Returns nil, {'BIG', size}, {'TYPE', first
 * character of the stored JSON}, {'INF'} or {'OK', value}. Numbers print as integers or as the
 * shortest %g that reads back the same double, so JSON.parse gives what JS would have computed.
 */
export const INCREMENT = script(`${HELPERS}
local now, field = tonumber(ARGV[2]), ARGV[6]
local all, e, s, old, size = redis.call('HGETALL', KEYS[1]), nil, nil, nil, 1
for i = 1, #all, 2 do
  local f, v = all[i], all[i + 1]
  if f == '_e' then e = tonumber(v) elseif f == '_s' then s = v elseif f == field then old = v
  elseif string.byte(f) == 34 then size = size + #f + #v + 2 end
end
if not e or e <= now then return false end
local x = 0
if old then
  x = string.find(old, '^%-?%d') and tonumber(old)
  if not x then return {'TYPE', string.sub(old, 1, 1)} end
end
x = x + tonumber(ARGV[7])
if x ~= x or x == math.huge or x == -math.huge then return {'INF'} end
local text
if x == math.floor(x) and math.abs(x) < 1e18 then text = string.format('%d', x)
else for p = 15, 17 do text = string.format('%.' .. p .. 'g', x); if tonumber(text) == x then break end end end
size = size + #field + #text + 2
if size > tonumber(ARGV[5]) then return {'BIG', tostring(size)} end
redis.call('HSET', KEYS[1], field, text)
local ttl = keep_or_move(KEYS[1], ARGV)
if s then bind(s, string.sub(KEYS[1], #P + 1), ttl) end
return {'OK', text}`)

/**
 * ARGV: P, now, expiresAt ('' keeps the deadline), ttl, then the fields to take. Deletes them and
 * returns nil (not live) or {'OK', field, value, ...} of those that were there.
 */
export const TAKE = script(`${HELPERS}
local r = redis.call('HMGET', KEYS[1], '_e', '_s')
if not live(r[1], tonumber(ARGV[2])) then return false end
local out = {'OK'}
if #ARGV >= 5 then
  local values = redis.call('HMGET', KEYS[1], unpack(ARGV, 5, #ARGV))
  for i = 1, #values do
    if values[i] then out[#out + 1] = ARGV[4 + i]; out[#out + 1] = values[i] end
  end
  redis.call('HDEL', KEYS[1], unpack(ARGV, 5, #ARGV))
end
local ttl = keep_or_move(KEYS[1], ARGV)
if r[2] then bind(r[2], string.sub(KEYS[1], #P + 1), ttl) end
return out`)

/** ARGV: P, now, expiresAt, ttl. 1 when the live record was touched, else 0. */
export const TOUCH = script(`${HELPERS}
local r = redis.call('HMGET', KEYS[1], '_e', '_s')
if not live(r[1], tonumber(ARGV[2])) then return 0 end
redis.call('HSET', KEYS[1], '_l', ARGV[2], '_e', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if r[2] then bind(r[2], string.sub(KEYS[1], #P + 1), ARGV[4]) end
return 1`)

/**
 * KEYS: from, to. ARGV: P, now, graceUntil, slack, '' or '=' .. the renewing User-Agent. RENAME keeps the TTL. During the grace window
 * `from` is a pointer (`_m` target, `_p` deadline) with no `_e`, so no write finds it live, and the
 * record names it in `_o`. Without a grace window nothing is left at `from`. An older pointer to
 * `from` is deleted: only the newest old key stays readable.
 */
export const RENAME = script(`${HELPERS}
local now = tonumber(ARGV[2])
local r = redis.call('HMGET', KEYS[1], '_e', '_s', '_c', '_o')
if not live(r[1], now) then return 0 end
local from, to = string.sub(KEYS[1], #P + 1), string.sub(KEYS[2], #P + 1)
drop_pointer(r[4], from)
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[2], '_r', ARGV[2])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[2], '_u', string.sub(ARGV[5], 2)) end
redis.call('HDEL', KEYS[2], '_o')
if r[2] then unbind(r[2], from); bind(r[2], to, redis.call('PTTL', KEYS[2])) end
local grace = ARGV[3]
if tonumber(r[1]) < tonumber(grace) then grace = r[1] end
if tonumber(grace) > now then
  redis.call('HSET', KEYS[1], '_m', to, '_p', grace, '_c', r[3], '_l', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], string.format('%d', math.ceil(tonumber(grace) - now) + tonumber(ARGV[4])))
  redis.call('HSET', KEYS[2], '_o', from)
end
return 1`)

/** KEYS: the record. ARGV: P. Deletes it, its grace pointer and its subject index entry. */
export const DESTROY = script(`${HELPERS}
local key = string.sub(KEYS[1], #P + 1)
local r = redis.call('HMGET', KEYS[1], '_o', '_s')
drop_pointer(r[1], key)
if r[2] then unbind(r[2], key) end
redis.call('DEL', KEYS[1])
return 1`)

/** KEYS: the subject's index. ARGV: P, now, subject. Flat [key, c, l, e, '' or '=' .. ua, '' or '1' (remembered), ...]; drops stale members. */
export const LIST = script(`local out = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local r = redis.call('HMGET', ARGV[1] .. m, '_e', '_s', '_c', '_l', '_u', '_k')
  if r[2] == ARGV[3] and (tonumber(r[1]) or 0) > tonumber(ARGV[2]) then
    out[#out + 1] = m; out[#out + 1] = r[3]; out[#out + 1] = r[4]; out[#out + 1] = r[1]
    out[#out + 1] = r[5] and ('=' .. r[5]) or ''
    out[#out + 1] = r[6] or ''
  elseif not r[1] or r[2] ~= ARGV[3] then redis.call('SREM', KEYS[1], m) end
end
return out`)

/** KEYS: the subject's index. ARGV: P, subject. Deletes its records, their grace pointers and the index; returns how many. */
export const DESTROY_SUBJECT = script(`${HELPERS}
local n = 0
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local r = redis.call('HMGET', P .. m, '_s', '_o')
  if r[1] == ARGV[2] then drop_pointer(r[2], m); redis.call('DEL', P .. m); n = n + 1 end
end
redis.call('DEL', KEYS[1])
return n`)

/** KEYS: a batch from SCAN. ARGV: P, now. {live, expired, remembered} among the records; other keys are skipped. */
export const STATS = script(`local live, expired, remembered = 0, 0, 0
for i = 1, #KEYS do
  local r = redis.pcall('HMGET', KEYS[i], '_e', '_k')
  if type(r) == 'table' and type(r[1]) == 'string' then
    if (tonumber(r[1]) or 0) > tonumber(ARGV[2]) then
      live = live + 1
      if r[2] then remembered = remembered + 1 end
    else expired = expired + 1 end
  end
end
return {live, expired, remembered}`)

/** KEYS: a batch from SCAN. ARGV: P, now, limit. Deletes up to `limit` records expired at `now`. */
export const PRUNE = script(`local n, now, limit = 0, tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 1, #KEYS do
  if n >= limit then break end
  local e = redis.pcall('HGET', KEYS[i], '_e')
  if type(e) == 'string' and (tonumber(e) or 0) <= now then redis.call('DEL', KEYS[i]); n = n + 1 end
end
return n`)

/**
 * KEYS: a batch from SCAN. ARGV: P. Deletes the store's own keys among them (records, pointers,
 * subject indexes), never another app's key that shares the prefix; returns how many were records.
 */
export const DESTROY_ALL = script(`local n = 0
local index = ARGV[1] .. 'subject:'
for i = 1, #KEYS do
  local kind = redis.call('TYPE', KEYS[i]).ok
  if kind == 'hash' then
    local meta = redis.call('HMGET', KEYS[i], '_e', '_m')
    if meta[1] then n = n + 1 end
    if meta[1] or meta[2] then redis.call('DEL', KEYS[i]) end
  elseif kind == 'set' and string.sub(KEYS[i], 1, #index) == index then
    redis.call('DEL', KEYS[i])
  end
end
return n`)
