/**
 * The store contract (`store.ts`) as tests: every store runs this one suite, the core always and
 * each capability (`capabilities.ts`) it declares. `open` returns a fresh, empty store; `close`
 * (when the store has one) is called after each test.
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { SessionTooLargeError, SessionValueError } from '../errors'
import { capabilityMethods, hasCapability, type FullSessionStore, type StoreCapability } from '../capabilities'
import type { SessionStore } from '../store'
import { capabilityConformance } from './capability-conformance'
import { webAppConformance } from './conformance-webapp'
import { HOUR, MAX, T0, key, record, write } from './fixtures'

export { key, record } from './fixtures'

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

    test('rename without a grace window: the old key opens nothing at once, for reads and writes', async () => {
      const from = key()
      const to = key()
      await store.create(from, record({ views: 1 }), MAX)
      expect(await store.rename(from, to, T0 + 1)).toBe(true)
      expect(await store.get(from, T0 + 1)).toBeUndefined()
      expect(await store.update(from, { set: { views: 9 }, unset: [] }, write(T0 + 2))).toBeUndefined()
      expect(await store.increment(from, 'views', 1, write(T0 + 2))).toBeUndefined()
      expect(await store.touch(from, T0 + 2, T0 + HOUR)).toBe(false)
      expect(await store.rename(from, key(), T0 + 2)).toBe(false)
      expect((await store.get(to, T0 + 3))?.data).toEqual({ views: 1 })
      // Nothing is left at the old key: it is as free as one never used.
      await store.create(from, record({ fresh: true }, T0 + 3), MAX)
      expect((await store.get(from, T0 + 4))?.data).toEqual({ fresh: true })
      expect((await store.get(to, T0 + 4))?.data).toEqual({ views: 1 })
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
    })

    test('destroy deletes the record and its grace pointers in one step: the old key is free at once', async () => {
      const from = key()
      const to = key()
      await store.create(from, record({ views: 1 }), MAX)
      await store.rename(from, to, T0 + 10, T0 + 5000)
      await store.destroy(to)
      expect(await store.get(from, T0 + 20)).toBeUndefined()
      expect(await store.get(to, T0 + 20)).toBeUndefined()
      await store.create(from, record({ fresh: true }, T0 + 20), MAX)
      expect((await store.get(from, T0 + 30))?.data).toEqual({ fresh: true })
    })

    test('a second renewal inside the grace window: only the newest old key points at the record', async () => {
      const [first, second, third] = [key(), key(), key()]
      await store.create(first, record({ views: 1 }), MAX)
      await store.rename(first, second, T0 + 10, T0 + 5000)
      await store.rename(second, third, T0 + 20, T0 + 5000)
      expect(await store.get(first, T0 + 30)).toBeUndefined()
      expect((await store.get(second, T0 + 30))?.movedTo).toBe(third)
      expect((await store.get(third, T0 + 30))?.data).toEqual({ views: 1 })
      await store.destroy(third)
      for (const k of [first, second, third]) expect(await store.get(k, T0 + 40)).toBeUndefined()
    })

    test('destroy deletes; destroying a missing record is not an error', async () => {
      const k = key()
      await store.create(k, record({ a: 1 }), MAX)
      await store.destroy(k)
      expect(await store.get(k, T0)).toBeUndefined()
      await store.destroy(k)
      await store.destroy(key())
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

    capabilityConformance(() => store, declared)
    webAppConformance(() => store, declared)

    test('ping answers (when the store has one)', async () => {
      await store.ping?.()
    })
  })
}
