/**
 * The Redis store against a real server: the shared conformance suite, then what is specific to
 * Redis (key names, native TTLs, exact round trips, fail-fast faults and recovery).
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { RedisClient } from 'bun'
import { SessionTooLargeError } from '../../src/errors'
import { generateId, storeKey } from '../../src/ids'
import type { FullSessionStore } from '../../src/capabilities'
import { memoryStore } from '../../src/stores/memory'
import { encodeData } from '../../src/stores/records'
import { redisStore } from '../../src/stores/redis'
import { deleteKeys, REDIS_URL, redisReady, RUN_PREFIX, startOwnRedis } from '../redis-helpers'
import { key, record, storeConformance } from '../../src/testing'

const ready = await redisReady('redis store tests')
const ownServers = ready && (await redisReady('redis store fault tests', true))
const T0 = 1_700_000_000_000
const HOUR = 3_600_000
let n = 0
const prefix = () => `${RUN_PREFIX}store:${n++}:`
const open = (options: Parameters<typeof redisStore>[0] = {}) => redisStore({ url: REDIS_URL, prefix: prefix(), ...options })

afterAll(async () => {
  if (ready) await deleteKeys(RUN_PREFIX)
})

if (ready) storeConformance('redis', () => open())

describe.skipIf(!ready)('redis store specifics', () => {
  const admin = () => new RedisClient(REDIS_URL)
  const keysUnder = async (client: RedisClient, p: string): Promise<string[]> => client.send('KEYS', [`${p}*`])

  test('keys are the prefix plus the SHA-256 store key: never an ID, in names or values', async () => {
    const p = prefix()
    const store = redisStore({ url: REDIS_URL, prefix: p })
    const id = generateId()
    const k = storeKey(id)
    await store.create(k, record({ views: 1 }), 1000)
    await store.rename(k, storeKey(id + 'x'), T0 + 1)
    const client = admin()
    const keys = await keysUnder(client, p)
    expect(keys).toEqual([p + storeKey(id + 'x')])
    expect(keys[0]).toMatch(/^.*:[A-Za-z0-9_-]{43}$|^.*:[0-9a-f]{64}$/)
    expect(JSON.stringify(await client.send('HGETALL', [keys[0]!]))).not.toContain(id)
    expect(keys[0]).not.toContain(id)
    client.close()
    await store.close()
  })

  test('regenerate, destroy and destroySubject leave no key behind: no pointer, no stale index entry', async () => {
    const p = prefix()
    const store = redisStore({ url: REDIS_URL, prefix: p })
    const client = admin()
    const [a, b, c] = [key(), key(), key()]
    await store.create(a, record({ views: 1 }, T0, T0 + HOUR, { subject: 'hal' }), 1000)
    await store.rename(a, b, T0 + 1, T0 + 30_000) // automatic renewal: a pointer at a
    await store.rename(b, c, T0 + 2) // regenerate: the pointer at a goes too
    expect((await keysUnder(client, p)).toSorted()).toEqual([p + c, `${p}subject:hal`].toSorted())
    await store.rename(c, a, T0 + 3, T0 + 30_000)
    await store.destroy(a)
    expect(await keysUnder(client, p)).toEqual([]) // the subject's index emptied, so Redis dropped it
    await store.create(b, record({ views: 1 }, T0, T0 + HOUR, { subject: 'hal' }), 1000)
    await store.rename(b, c, T0 + 4, T0 + 30_000)
    expect(await store.destroySubject('hal')).toBe(1)
    expect(await keysUnder(client, p)).toEqual([])
    client.close()
    await store.close()
  })

  test("destroyAll deletes this store's records, pointers and indexes only: other keys under the prefix stay", async () => {
    const p = prefix()
    const store = redisStore({ url: REDIS_URL, prefix: p })
    const client = admin()
    const [a, b] = [key(), key()]
    await store.create(a, record({ views: 1 }, T0, T0 + HOUR, { subject: 'ivy' }), 1000)
    await store.rename(a, b, T0 + 1, T0 + 30_000) // a pointer at a
    // What another app sharing the prefix keeps there (connect-redis uses `sess:` too).
    await client.send('SET', [`${p}Xk3connect-redis-session`, '{"user":"bob"}'])
    await client.send('HSET', [`${p}profile`, 'name', 'bob'])
    await client.send('SADD', [`${p}queue`, 'job'])
    expect(await store.destroyAll()).toBe(1)
    expect((await keysUnder(client, p)).toSorted()).toEqual([`${p}Xk3connect-redis-session`, `${p}profile`, `${p}queue`].toSorted())
    client.close()
    await store.close()
  })

  test('an empty prefix is refused: the store would own the whole database', () => {
    expect(() => redisStore({ url: REDIS_URL, prefix: '' })).toThrow(/prefix/)
  })

  test('a pointer opens its record only while the record names it', async () => {
    const p = prefix()
    const store = redisStore({ url: REDIS_URL, prefix: p })
    const client = admin()
    const [target, stray] = [key(), key()]
    await store.create(target, record({ views: 1 }), 1000)
    // A pointer hash the record does not name in _o (left behind, or forged into Redis).
    await client.send('HSET', [p + stray, '_m', target, '_p', String(T0 + HOUR), '_c', String(T0), '_l', String(T0)])
    expect(await store.get(stray, T0 + 1)).toBeUndefined()
    expect((await store.get(target, T0 + 1))?.data).toEqual({ views: 1 })
    client.close()
    await store.close()
  })

  test('native TTLs follow expiresAt - now of each write (1 s of slack at most)', async () => {
    const p = prefix()
    const store = redisStore({ url: REDIS_URL, prefix: p })
    const client = admin()
    const k = key()
    const pttl = async () => Number(await client.send('PTTL', [p + k]))
    const near = async (ms: number) => {
      const actual = await pttl()
      expect(actual).toBeGreaterThan(ms - 500)
      expect(actual).toBeLessThanOrEqual(ms + 1000)
    }
    await store.create(k, record({ a: 1 }, T0, T0 + 60_000), 1000)
    await near(60_000)
    await store.update(k, { set: { a: 2 }, unset: [] }, { now: T0 + 10, expiresAt: T0 + 10 + 30_000, maxBytes: 1000 })
    await near(30_000)
    await store.increment(k, 'a', 1, { now: T0 + 20, expiresAt: T0 + 20 + HOUR, maxBytes: 1000 })
    await near(HOUR)
    await store.touch(k, T0 + 30, T0 + 30 + 5000)
    await near(5000)
    const to = key()
    await store.rename(k, to, T0 + 40)
    expect(Number(await client.send('PTTL', [p + to]))).toBeGreaterThan(4000)
    // A record created already dead is not written at all.
    await store.create(key(), record({ a: 1 }, T0, T0), 1000)
    expect(await keysUnder(client, p)).toEqual([p + to])
    // Redis expires by its own clock; prune also deletes what the caller's clock says is dead.
    expect(await store.stats(T0 + 40)).toEqual({ live: 1, expired: 0, remembered: 0 })
    expect(await store.prune(T0 + 40, 100)).toBe(0)
    expect(await store.prune(T0 + HOUR, 100)).toBe(1)
    expect(await keysUnder(client, p)).toEqual([])
    client.close()
    await store.close()
  })

  test('data and increments read back exactly as the memory store keeps them', async () => {
    const stores: FullSessionStore[] = [memoryStore({ pruneIntervalMs: 0 }), open()]
    const results = []
    for (const store of stores) {
      const k = key()
      const write = (i: number) => ({ now: T0 + i, expiresAt: T0 + HOUR, maxBytes: 4096 })
      const data = {
        empty: {}, list: [], deep: { a: [{}, [], null, 1.5e300, -0.000001, 1e21, 'é\u2028"\\/'] }, big: 2 ** 53,
        'ünï "q"': '\ud83d\ude00 lone \ud800', zero: 0, neg: -12, t: true, nul: null,
      }
      const withProto = JSON.parse(JSON.stringify(data).replace('{', '{"__proto__":{"x":1},'))
      await store.create(k, record(withProto), 4096)
      const steps: unknown[] = [await store.get(k, T0 + 1)]
      for (const [field, by] of [['f', 0.1], ['f', 0.2], ['g', 1e20], ['g', 1e20], ['h', -1e-7], ['zero', -5], ['big', 1]] as const) {
        steps.push(await store.increment(k, field, by, write(2)))
      }
      steps.push(await store.update(k, { set: { list: [1, { b: [] }], later: undefined as never }, unset: ['t', 'missing'] }, write(3)))
      steps.push(await store.get(k, T0 + 4))
      results.push(steps)
      await store.close()
    }
    // Equal values; key order is not kept (a hash has none), and no store promises it.
    expect(results[1]).toEqual(results[0]!)
    expect(Object.keys((results[1]![0] as { data: object }).data)).toContain('__proto__')
  })

  test('the size limit is the one encodeData applies, to the byte, at create, update and increment', async () => {
    const store = open()
    const k = key()
    const data = { s: 'é'.repeat(10), n: 9 }
    const exact = Buffer.byteLength(encodeData(data, 1e9))
    expect(store.create(key(), record(data), exact - 1)).rejects.toBeInstanceOf(SessionTooLargeError)
    await store.create(k, record(data), exact)
    const write = { now: T0 + 1, expiresAt: T0 + HOUR, maxBytes: exact }
    expect(store.increment(k, 'n', 1, write)).rejects.toBeInstanceOf(SessionTooLargeError)
    expect(await store.increment(k, 'n', -1, write)).toBe(8)
    expect(store.update(k, { set: { n: 10 }, unset: [] }, write)).rejects.toBeInstanceOf(SessionTooLargeError)
    expect(await store.update(k, { set: { n: 7 }, unset: [] }, write)).toEqual({ ...data, n: 7 })
    expect(store.update(k, { set: { x: 1 }, unset: [] }, write)).rejects.toBeInstanceOf(SessionTooLargeError)
    expect(await store.update(k, { set: { x: 1 }, unset: ['s'] }, write)).toEqual({ n: 7, x: 1 })
    expect((await store.get(k, T0 + 2))?.data).toEqual({ n: 7, x: 1 })
    await store.close()
  })

  test('a client passed in is used and left open by close()', async () => {
    const client = new RedisClient(REDIS_URL)
    const store = redisStore({ client, prefix: prefix() })
    await store.ping()
    await store.close()
    expect(await client.send('PING', [])).toBe('PONG')
    expect(store.ping()).rejects.toThrow(/closed/)
    client.close()
  })

  test.skipIf(!ownServers)('Redis down: every call fails fast, ping too; Redis back: the same store serves again', async () => {
    const redis = await startOwnRedis()
    const warnings: string[] = []
    const store = redisStore({ url: redis.url, prefix: 'fault:', warn: (m) => warnings.push(m) })
    try {
      const k = key()
      await store.create(k, record({ views: 1 }), 1000)
      const write = { now: T0 + 1, expiresAt: T0 + HOUR, maxBytes: 1000 }
      expect(await store.increment(k, 'views', 1, write)).toBe(2)

      await redis.kill()
      const calls: [string, () => Promise<unknown>][] = [
        ['get', () => store.get(k, T0)],
        ['increment', () => store.increment(k, 'views', 1, write)],
        ['update', () => store.update(k, { set: { a: 1 }, unset: [] }, write)],
        ['create', () => store.create(key(), record({ a: 1 }), 1000)],
        ['touch', () => store.touch(k, T0 + 1, T0 + HOUR)],
        ['ping', () => store.ping()],
      ]
      for (const [name, call] of calls) {
        const started = performance.now()
        expect(call(), name).rejects.toThrow()
        await call().catch(() => {})
        expect(performance.now() - started, name).toBeLessThan(600)
      }
      expect(warnings.some((w) => w.includes('cannot reach Redis'))).toBe(true)

      await redis.restart()
      const back = Date.now()
      for (;;) {
        try {
          await store.ping()
          break
        } catch {
          if (Date.now() - back > 3000) throw new Error('the store did not reconnect within 3 s')
          await Bun.sleep(20)
        }
      }
      // The server restarted empty (no persistence): the record is gone, new ones work.
      expect(await store.get(k, T0)).toBeUndefined()
      await store.create(k, record({ views: 5 }), 1000)
      expect(await store.increment(k, 'views', 1, write)).toBe(6)
      expect(warnings.some((w) => w.includes('restored'))).toBe(true)
    } finally {
      await store.close()
      await redis.stop()
    }
  }, 20_000)

  // Bun's client stops reconnecting by itself after about 31 s of outage; the store must not.
  test.skipIf(!ownServers || !process.env.CI && !process.env.SLOW)('a 60 s outage: the same store serves again by itself once Redis is back', async () => {
    const redis = await startOwnRedis()
    const store = redisStore({ url: redis.url, prefix: 'outage:', warn: () => {} })
    try {
      const k = key()
      await store.create(k, record({ views: 1 }), 1000)
      await redis.kill()
      const down = Date.now()
      while (Date.now() - down < 60_000) {
        expect(store.ping()).rejects.toThrow() // traffic all along, as a server under load would send
        await Bun.sleep(1000)
      }
      await redis.restart()
      const back = Date.now()
      for (;;) {
        try {
          await store.ping()
          break
        } catch (error) {
          if (Date.now() - back > 5000) throw new Error(`the store did not recover within 5 s of Redis's return: ${error}`)
          await Bun.sleep(50)
        }
      }
      await store.create(k, record({ views: 5 }), 1000)
      expect(await store.increment(k, 'views', 1, { now: T0 + 1, expiresAt: T0 + HOUR, maxBytes: 1000 })).toBe(6)
    } finally {
      await store.close()
      await redis.stop()
    }
  }, 90_000)

  test.skipIf(!ownServers)('Redis frozen (SIGSTOP): calls time out after commandTimeoutMs; thawed: served again', async () => {
    const redis = await startOwnRedis()
    const store = redisStore({ url: redis.url, prefix: 'frozen:', commandTimeoutMs: 200 })
    try {
      const k = key()
      await store.create(k, record({ views: 1 }), 1000)
      redis.pause()
      const started = performance.now()
      const error = await store.get(k, T0).catch((e) => e)
      const took = performance.now() - started
      expect(error).toMatchObject({ code: 'ERR_REDIS_TIMEOUT' })
      expect(took).toBeGreaterThanOrEqual(190)
      expect(took).toBeLessThan(400)
      expect(store.ping()).rejects.toThrow(/did not answer/)
      redis.resume()
      await Bun.sleep(50)
      expect((await store.get(k, T0))?.data).toEqual({ views: 1 })
    } finally {
      redis.resume()
      await store.close()
      await redis.stop()
    }
  }, 20_000)
})
