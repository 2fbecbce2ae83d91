/**
 * The store contract (`store.ts`) as tests: every store runs this one suite, the core always and
 * each capability (`capabilities.ts`) it declares. `open` returns a fresh, empty store; `close`
 * (when the store has one) is called after each test.
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { SessionTooLargeError, SessionValueError } from '../errors'
import { storeKey } from '../ids'
import { capabilityMethods, hasCapability, type FullSessionStore, type StoreCapability } from '../capabilities'
import type { SessionRecord, SessionStore } from '../store'

const T0 = 1_700_000_000_000
const HOUR = 3_600_000
const MAX = 16_384

export function record(data: SessionRecord['data'], at = T0, expiresAt = at + HOUR, extra: Partial<SessionRecord> = {}): SessionRecord {
  return { data, createdAt: at, lastSeenAt: at, expiresAt, renewedAt: at, ...extra }
}

let counter = 0
/** A distinct store key per call, shaped like the real ones. */
export const key = () => storeKey(`conformance-${process.pid}-${Date.now()}-${counter++}`)

export type ConformanceOptions = {
  /** The capabilities the store has, each tested by its own tests. @default all of them */
  capabilities?: readonly StoreCapability[]
}

const allCapabilities = Object.keys(capabilityMethods) as StoreCapability[]

/**
 * @example
 * storeConformance('map', () => mapStore(), { capabilities: [] }) // the core only
 */
export function storeConformance(name: string, open: () => Promise<SessionStore> | SessionStore, options: ConformanceOptions = {}) {
  const declared = new Set(options.capabilities ?? allCapabilities)
  /** `test` for a declared capability, skipped (and listed as skipped) for the others. */
  const withCapability = (capability: StoreCapability) => test.if(declared.has(capability))
  describe(`${name} store conformance`, () => {
    // Capability methods are called only in tests of declared capabilities, which the first test checks.
    let store: FullSessionStore
    beforeEach(async () => {
      store = (await open()) as FullSessionStore
    })
    afterEach(async () => {
      await store.close?.()
    })

    test('has exactly the capabilities it declares (`capabilities` option)', () => {
      const present = allCapabilities.filter((capability) => hasCapability(store, capability))
      expect(present).toEqual(allCapabilities.filter((capability) => declared.has(capability)))
    })
    const write = (at: number, expiresAt = at + HOUR) => ({ now: at, expiresAt, maxBytes: MAX })

    test('a missing key is no session, not an error', async () => {
      expect(await store.get(key(), T0)).toBeUndefined()
    })

    test('create then get returns the data and timestamps', async () => {
      const k = key()
      const data = { views: 3, name: 'Zoë ✓', nested: { list: [1, 'two', null], ok: true } }
      await store.create(k, record(data), MAX)
      expect(await store.get(k, T0 + 1)).toEqual(record(data))
    })

    test('a record is gone once its deadline has passed', async () => {
      const k = key()
      await store.create(k, record({ a: 1 }, T0, T0 + 1000), MAX)
      expect(await store.get(k, T0 + 999)).toBeDefined()
      expect(await store.get(k, T0 + 1000)).toBeUndefined()
    })

    test('update writes only the changed keys onto the current record', async () => {
      const k = key()
      await store.create(k, record({ a: 1, b: 1, c: 1 }), MAX)
      // Two requests that loaded the same copy change different keys: both survive.
      await store.update(k, { set: { a: 2 }, unset: [] }, write(T0 + 10))
      const merged = await store.update(k, { set: { b: 2 }, unset: ['c'] }, write(T0 + 20))
      expect(merged).toEqual({ a: 2, b: 2 })
      const got = await store.get(k, T0 + 30)
      expect(got?.data).toEqual({ a: 2, b: 2 })
      expect(got?.lastSeenAt).toBe(T0 + 20)
      expect(got?.expiresAt).toBe(T0 + 20 + HOUR)
      expect(got?.createdAt).toBe(T0)
    })

    test('update of a missing or expired record writes nothing', async () => {
      const k = key()
      expect(await store.update(k, { set: { a: 1 }, unset: [] }, write(T0))).toBeUndefined()
      expect(await store.get(k, T0)).toBeUndefined()
      await store.create(k, record({ a: 1 }, T0, T0 + 10), MAX)
      expect(await store.update(k, { set: { a: 2 }, unset: [] }, write(T0 + 10))).toBeUndefined()
      expect(await store.get(k, T0 + 5)).toEqual(record({ a: 1 }, T0, T0 + 10))
    })

    test('increment counts from 0, adds, and moves the deadline', async () => {
      const k = key()
      await store.create(k, record({ other: 'x' }), MAX)
      expect(await store.increment(k, 'views', 1, write(T0 + 1))).toBe(1)
      expect(await store.increment(k, 'views', 5, write(T0 + 2))).toBe(6)
      const got = await store.get(k, T0 + 3)
      expect(got?.data).toEqual({ other: 'x', views: 6 })
      expect(got?.expiresAt).toBe(T0 + 2 + HOUR)
    })

    test('a write without expiresAt keeps the deadline and last-seen time', async () => {
      const k = key()
      await store.create(k, record({ views: 1 }, T0, T0 + HOUR, { subject: 'carol' }), MAX)
      expect(await store.increment(k, 'views', 1, { now: T0 + 10, maxBytes: MAX })).toBe(2)
      expect(await store.update(k, { set: { b: 1 }, unset: [] }, { now: T0 + 20, maxBytes: MAX })).toEqual({ views: 2, b: 1 })
      expect(await store.get(k, T0 + 30)).toEqual(record({ views: 2, b: 1 }, T0, T0 + HOUR, { subject: 'carol' }))
      if (declared.has('subjects')) expect((await store.listSubject('carol', T0 + 30)).map((s) => s.key)).toEqual([k])
    })

    test('parallel increments are exact and each sees its own value', async () => {
      const k = key()
      await store.create(k, record({ views: 0 }), MAX)
      const values = await Promise.all(
        Array.from({ length: 100 }, (_, i) => store.increment(k, 'views', 1, write(T0 + i)))
      )
      expect(new Set(values).size).toBe(100)
      expect(values.toSorted((a, b) => a! - b!)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
      expect((await store.get(k, T0 + 200))?.data).toEqual({ views: 100 })
    })

    test('increment of a missing or expired record is undefined', async () => {
      const k = key()
      expect(await store.increment(k, 'views', 1, write(T0))).toBeUndefined()
      await store.create(k, record({ views: 1 }, T0, T0 + 10), MAX)
      expect(await store.increment(k, 'views', 1, write(T0 + 10))).toBeUndefined()
      expect(await store.get(k, T0 + 10)).toBeUndefined()
    })

    test('increment of a non-number fails and leaves the record as it was', async () => {
      const k = key()
      await store.create(k, record({ views: 'many' }), MAX)
      expect(store.increment(k, 'views', 1, write(T0 + 1))).rejects.toBeInstanceOf(SessionValueError)
      expect(await store.get(k, T0 + 2)).toEqual(record({ views: 'many' }))
    })

    test('field names that need quoting still increment', async () => {
      const k = key()
      await store.create(k, record({}), MAX)
      for (const field of ['a.b', 'with "quotes"', '$[0]', 'ünï']) {
        expect(await store.increment(k, field, 2, write(T0 + 1))).toBe(2)
      }
      expect((await store.get(k, T0 + 2))?.data).toEqual({ 'a.b': 2, 'with "quotes"': 2, '$[0]': 2, ünï: 2 })
    })

    test('touch moves only the deadline and last-seen time', async () => {
      const k = key()
      await store.create(k, record({ a: 1 }, T0, T0 + 100), MAX)
      expect(await store.touch(k, T0 + 50, T0 + 500)).toBe(true)
      expect(await store.get(k, T0 + 200)).toEqual({ ...record({ a: 1 }), lastSeenAt: T0 + 50, expiresAt: T0 + 500 })
      expect(await store.touch(key(), T0, T0 + 500)).toBe(false)
      expect(await store.touch(k, T0 + 500, T0 + 900)).toBe(false)
    })

    test('rename moves the record with its data and times, and marks when', async () => {
      const from = key()
      const to = key()
      await store.create(from, record({ user: 'u1' }, T0, T0 + HOUR, { subject: 's1', userAgent: 'UA/1' }), MAX)
      expect(await store.rename(from, to, T0 + 1)).toBe(true)
      expect(await store.get(from, T0 + 2)).toBeUndefined()
      expect(await store.get(to, T0 + 2)).toEqual(record({ user: 'u1' }, T0, T0 + HOUR, { subject: 's1', userAgent: 'UA/1', renewedAt: T0 + 1 }))
      expect(await store.rename(key(), key(), T0)).toBe(false)
    })

    test('rename with a grace window: the old key reads the moved record until then, never writes', async () => {
      const from = key()
      const to = key()
      await store.create(from, record({ views: 1 }), MAX)
      expect(await store.rename(from, to, T0 + 10, T0 + 1010)).toBe(true)
      expect(await store.get(from, T0 + 500)).toEqual({ ...record({ views: 1 }), renewedAt: T0 + 10, movedTo: to })
      // Writes through the new key show through the old one during the window.
      expect(await store.increment(to, 'views', 1, write(T0 + 600))).toBe(2)
      expect((await store.get(from, T0 + 700))?.data).toEqual({ views: 2 })
      // The old key itself is no live record: writes to it find nothing.
      expect(await store.increment(from, 'views', 1, write(T0 + 700))).toBeUndefined()
      expect(await store.touch(from, T0 + 700, T0 + HOUR)).toBe(false)
      expect(await store.rename(from, key(), T0 + 700)).toBe(false)
      expect(await store.get(from, T0 + 1010)).toBeUndefined()
      expect((await store.get(to, T0 + 1010))?.data).toEqual({ views: 2 })
      // Destroying the record ends the old key's window too.
      const again = key()
      await store.rename(to, again, T0 + 1100, T0 + 5000)
      await store.destroy(again)
      expect(await store.get(to, T0 + 1200)).toBeUndefined()
    })

    withCapability('subjects')('subjects: bound at create or by update, listed newest first, revoked all at once', async () => {
      const [a, b, c, other] = [key(), key(), key(), key()]
      await store.create(a, record({ n: 1 }, T0, T0 + HOUR, { subject: 'alice', userAgent: 'Firefox' }), MAX)
      await store.create(b, record({ n: 2 }, T0 + 5, T0 + HOUR, { subject: 'alice' }), MAX)
      await store.create(c, record({ n: 3 }, T0, T0 + 10, { subject: 'alice' }), MAX) // expires first
      await store.create(other, record({ n: 4 }), MAX)
      await store.update(other, { set: {}, unset: [], subject: 'bob' }, write(T0 + 1))
      expect(await store.listSubject('alice', T0 + 20)).toEqual([
        { key: b, createdAt: T0 + 5, lastSeenAt: T0 + 5, expiresAt: T0 + HOUR },
        { key: a, createdAt: T0, lastSeenAt: T0, expiresAt: T0 + HOUR, userAgent: 'Firefox' },
      ])
      expect((await store.listSubject('bob', T0 + 20)).map((s) => s.key)).toEqual([other])
      expect((await store.get(other, T0 + 2))?.subject).toBe('bob')
      await store.update(other, { set: { x: 1 }, unset: [], subject: null }, write(T0 + 3))
      expect(await store.listSubject('bob', T0 + 20)).toEqual([])
      expect((await store.get(other, T0 + 4))?.subject).toBeUndefined()
      expect(await store.destroySubject('alice')).toBeGreaterThanOrEqual(2)
      for (const k of [a, b]) expect(await store.get(k, T0 + 6)).toBeUndefined()
      expect(await store.get(other, T0 + 6)).toBeDefined()
      expect(await store.destroySubject('nobody')).toBe(0)
    })

    withCapability('destroyAll')('destroyAll deletes every session', async () => {
      const keys = [key(), key(), key()]
      for (const k of keys) await store.create(k, record({}), MAX)
      expect(await store.destroyAll()).toBeGreaterThanOrEqual(3)
      for (const k of keys) expect(await store.get(k, T0)).toBeUndefined()
    })

    test('destroy deletes; destroying a missing record is not an error', async () => {
      const k = key()
      await store.create(k, record({ a: 1 }), MAX)
      await store.destroy(k)
      expect(await store.get(k, T0)).toBeUndefined()
      await store.destroy(k)
      await store.destroy(key())
    })

    withCapability('prune')('prune deletes expired records only, at most `limit` at a time', async () => {
      const live = key()
      await store.create(live, record({ live: true }, T0, T0 + HOUR), MAX)
      const dead = [key(), key(), key()]
      for (const k of dead) await store.create(k, record({ dead: true }, T0, T0 + 10), MAX)
      const first = await store.prune(T0 + 20, 2)
      const second = await store.prune(T0 + 20, 2)
      // Engines with native expiry (Redis) may report 0: the records are gone either way.
      expect(first + second === 3 || first + second === 0).toBe(true)
      for (const k of dead) expect(await store.get(k, T0 + 5)).toBeUndefined()
      expect(await store.get(live, T0 + 20)).toEqual(record({ live: true }, T0, T0 + HOUR))
    })

    test('data over maxBytes is refused at create and at update, nothing changed', async () => {
      const k = key()
      const big = 'x'.repeat(200)
      expect(store.create(k, record({ big }), 100)).rejects.toBeInstanceOf(SessionTooLargeError)
      expect(await store.get(k, T0)).toBeUndefined()
      await store.create(k, record({ small: 1 }), 100)
      const tooBig = { now: T0 + 1, expiresAt: T0 + HOUR, maxBytes: 100 }
      expect(store.update(k, { set: { big }, unset: [] }, tooBig)).rejects.toBeInstanceOf(SessionTooLargeError)
      expect(await store.get(k, T0 + 2)).toEqual(record({ small: 1 }))
    })

    withCapability('stats')('stats counts live records, and expired ones not yet pruned', async () => {
      await store.create(key(), record({ a: 1 }, T0, T0 + HOUR), MAX)
      await store.create(key(), record({ b: 1 }, T0, T0 + HOUR), MAX)
      await store.create(key(), record({ c: 1 }, T0, T0 + 10), MAX)
      const stats = await store.stats(T0 + 20)
      expect(stats.live).toBe(2)
      // Engines with native expiry (Redis) no longer hold the expired record.
      expect(stats.expired === 1 || stats.expired === 0).toBe(true)
    })

    test('ping answers (when the store has one)', async () => {
      await store.ping?.()
    })
  })
}
