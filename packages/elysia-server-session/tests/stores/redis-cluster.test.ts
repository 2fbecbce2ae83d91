/**
 * The Cluster and Sentinel stores against real servers this file starts (a 6-node cluster, and a
 * primary, a replica and three sentinels): the shared conformance suite on both, then what is
 * specific to spreading keys over slots.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { Cluster } from 'ioredis'
import { key, record, storeConformance } from '../../src/testing'
import { redisClusterStore, redisSentinelStore } from '../../src/stores/redis-cluster'
import { redisReady } from '../redis-helpers'
import { startCluster, startSentinels, until, type OwnCluster, type OwnSentinels } from '../redis-cluster-helpers'

const ready = await redisReady('redis cluster store tests', true, false)
const T0 = 1_700_000_000_000
const HOUR = 3_600_000
let n = 0
const prefix = () => `cluster-test:${n++}:`

let cluster: OwnCluster | undefined
let sentinels: OwnSentinels | undefined
if (ready) [cluster, sentinels] = await Promise.all([startCluster(), startSentinels()])
afterAll(async () => {
  await Promise.all([cluster?.stop(), sentinels?.stop()])
})

const openCluster = (options: Parameters<typeof redisClusterStore>[0] = {}) => redisClusterStore({ nodes: cluster!.seeds.split(','), prefix: prefix(), ...options })
const openSentinel = (options: Parameters<typeof redisSentinelStore>[0] = {}) =>
  redisSentinelStore({ sentinels: sentinels!.addresses.split(','), master: sentinels!.master, prefix: prefix(), ...options })

if (ready) {
  storeConformance('redis cluster', () => openCluster())
  storeConformance('redis cluster with replica wait', () => openCluster({ replicaWaitMs: 1000 }))
  storeConformance('redis sentinel', () => openSentinel())
}

describe.skipIf(!ready)('redis cluster store specifics', () => {
  test('an empty prefix is refused: destroyAll and stats walk what lies under it', () => {
    expect(() => redisClusterStore({ nodes: cluster!.seeds.split(','), prefix: '' })).toThrow(/prefix/)
    expect(() => redisSentinelStore({ sentinels: sentinels!.addresses.split(','), prefix: '' })).toThrow(/prefix/)
  })

  test('records spread over every primary; a renamed session leaves its pointer at the old key, naming the new one', async () => {
    const p = prefix()
    const store = redisClusterStore({ nodes: cluster!.seeds.split(','), prefix: p })
    const admin = new Cluster(cluster!.seeds.split(',').map((url) => ({ host: '127.0.0.1', port: Number(new URL(url).port) })))
    try {
      const keys = Array.from({ length: 30 }, () => key())
      for (const k of keys) await store.create(k, record({ views: 1 }, T0, T0 + HOUR, { subject: 'ann' }), 1000)
      const perPrimary = await Promise.all(admin.nodes('master').map(async (node) => (await node.keys(`${p}*`)).length))
      expect(perPrimary.length).toBe(3)
      for (const count of perPrimary) expect(count).toBeGreaterThan(0)
      expect(await store.stats(T0 + 1)).toEqual({ live: 30, expired: 0, remembered: 0 })
      expect((await store.listSubject('ann', T0 + 1)).length).toBe(30)

      const renamed = key()
      expect(await store.rename(keys[0]!, renamed, T0 + 2, T0 + 60_000)).toBe(true)
      // The pointer stays at the old key (its slot) and names the new key; the new record names it back.
      expect(await admin.hget(`${p}{${keys[0]}}`, '_m')).toBe(`{${renamed}}`)
      expect(await admin.hget(`${p}{${renamed}}`, '_o')).toBe(`{${keys[0]}}`)
      expect((await store.get(keys[0]!, T0 + 3))?.movedTo).toBe(renamed)
      expect((await store.listSubject('ann', T0 + 3)).map((s) => s.key)).toContain(renamed)
      expect(await store.destroySubject('ann')).toBe(30)
      expect(await store.listSubject('ann', T0 + 4)).toEqual([])
      expect(await store.get(keys[0]!, T0 + 4)).toBeUndefined()
      // No record, pointer or index outlives destroySubject, on any primary.
      expect((await Promise.all(admin.nodes('master').map((node) => node.keys(`${p}*`)))).flat()).toEqual([])
    } finally {
      admin.disconnect()
      await store.close()
    }
  })

  test('a crash between the steps of an index update leaves nothing the next read does not repair', async () => {
    const p = prefix()
    const store = redisClusterStore({ nodes: cluster!.seeds.split(','), prefix: p })
    const admin = new Cluster(cluster!.seeds.split(',').map((url) => ({ host: '127.0.0.1', port: Number(new URL(url).port) })))
    try {
      const live = key()
      await store.create(live, record({}, T0, T0 + HOUR, { subject: 'bob' }), 1000)
      // The index step ran, the record's did not (a crash in between): entries for no record.
      await admin.sadd(`${p}subject:bob`, key(), key())
      // A record rebound to someone else, whose old index entry stayed.
      const moved = key()
      await store.create(moved, record({}, T0, T0 + HOUR, { subject: 'bob' }), 1000)
      await store.update(moved, { set: {}, unset: [], subject: 'carl' }, { now: T0 + 1, maxBytes: 1000 })
      expect(await admin.scard(`${p}subject:bob`)).toBe(4)
      expect((await store.listSubject('bob', T0 + 2)).map((s) => s.key)).toEqual([live])
      expect(await admin.smembers(`${p}subject:bob`)).toEqual([live])
      expect(await store.destroySubject('bob')).toBe(1)
      expect((await store.get(moved, T0 + 3))?.subject).toBe('carl')
    } finally {
      admin.disconnect()
      await store.close()
    }
  })

  test('with replicaWaitMs, a write no replica confirms in time fails; without it, the same write is acknowledged', async () => {
    const p = prefix()
    const waiting = openSentinel({ prefix: p, replicaWaitMs: 300, commandTimeoutMs: 500 })
    const plain = openSentinel({ prefix: p })
    try {
      const k = key()
      const write = { now: T0 + 1, expiresAt: T0 + HOUR, maxBytes: 1000 }
      await waiting.create(k, record({ n: 0 }), 1000)
      expect(await waiting.increment(k, 'n', 1, write)).toBe(1)
      sentinels!.replica.pause() // still connected as far as the primary knows, but confirms nothing
      try {
        const error = await waiting.increment(k, 'n', 1, write).catch((e) => e)
        expect(error).toMatchObject({ code: 'ERR_REDIS_NOT_REPLICATED' })
        expect(await plain.increment(k, 'n', 1, write)).toBe(3) // the refused write was applied on the primary all the same
      } finally {
        sentinels!.replica.resume()
      }
      await until('the replica to confirm again', async () => (await waiting.increment(k, 'n', 1, write)) !== undefined)
      expect((await plain.get(k, T0 + 2))?.data.n).toBeGreaterThanOrEqual(4)
    } finally {
      await Promise.all([waiting.close(), plain.close()])
    }
  })

  test('a rename across slots loses no write acknowledged on the old key while it copies', async () => {
    const store = openCluster()
    try {
      let raced = 0
      for (let round = 0; round < 10; round++) {
        const from = key()
        const to = key()
        await store.create(from, record({ n: 0 }), 1000)
        const write = { now: T0 + 1, expiresAt: T0 + HOUR, maxBytes: 1000 }
        let acknowledged = 0
        let renaming = true
        // Requests of the same session keep writing to the old key until they see it moved.
        const workers = Array.from({ length: 3 }, async () => {
          while (renaming) if ((await store.increment(from, 'n', 1, write)) !== undefined) acknowledged++
        })
        await Bun.sleep(2)
        const renamed = await store.rename(from, to, T0 + 1, T0 + 60_000).finally(() => (renaming = false))
        await Promise.all(workers)
        expect(renamed).toBe(true)
        const n = (await store.get(to, T0 + 2))?.data.n as number
        expect(n).toBe(acknowledged)
        if (n > 0 && acknowledged > 0) raced++
      }
      expect(raced).toBeGreaterThan(0)
    } finally {
      await store.close()
    }
  })

  test('a failover loses the writes acknowledged while the replica was cut off, with or without replicaWaitMs; confirmed ones survive', async () => {
    const group = await startSentinels({ downAfterMs: 1000 })
    const p = prefix()
    const warnings: string[] = []
    const options = { sentinels: group.addresses.split(','), master: group.master, prefix: p, warn: (m: string) => warnings.push(m) }
    const plain = redisSentinelStore(options)
    const waiting = redisSentinelStore({ ...options, replicaWaitMs: 200 })
    try {
      const [unconfirmed, confirmed] = [key(), key()]
      const write = { now: T0 + 1, expiresAt: T0 + HOUR, maxBytes: 1000 }
      for (const k of [unconfirmed, confirmed]) await waiting.create(k, record({ n: 0 }), 1000)
      for (let i = 0; i < 10; i++) expect(await waiting.increment(confirmed, 'n', 1, write)).toBe(i + 1)
      // Cut the replica off (it cannot authenticate to resync), as a network partition would.
      await group.replica.send('CONFIG', ['SET', 'masterauth', 'wrong'])
      await group.replica.send('CLIENT', ['KILL', 'TYPE', 'master'])
      await until('the primary to see no replica', async () => String(await group.primary.send('INFO', ['replication'])).includes('connected_slaves:0'))
      for (let i = 0; i < 50; i++) expect(await plain.increment(unconfirmed, 'n', 1, write)).toBe(i + 1)
      for (let i = 0; i < 5; i++) expect(await waiting.increment(confirmed, 'n', 1, write)).toBe(11 + i) // alone, with a warning
      expect(warnings.some((w) => w.includes('no replica connected'))).toBe(true)
      await group.primary.kill()
      let after = { unconfirmed: NaN, confirmed: NaN }
      await until('the replica to be promoted', async () => {
        const [u, c] = await Promise.all([plain.get(unconfirmed, T0 + 2), plain.get(confirmed, T0 + 2)])
        after = { unconfirmed: u!.data.n as number, confirmed: c!.data.n as number }
        return true
      }, 30_000)
      console.log(`failover after the replica was cut off: ${50 - after.unconfirmed} of 50 acknowledged writes lost; with the wait, ${after.confirmed} confirmed of 15 kept`)
      expect(after).toEqual({ unconfirmed: 0, confirmed: 10 })
    } finally {
      await Promise.all([plain.close(), waiting.close()])
      await group.stop()
    }
  }, 60_000)
})

