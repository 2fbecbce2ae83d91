/**
 * The store contract for what web apps need, as tests: `take` (flash messages, consumed once) and
 * per-session lifetimes (`remembered`), the renewing User-Agent. Part of `storeConformance`.
 */
import { expect, test } from 'bun:test'
import type { FullSessionStore, StoreCapability } from '../capabilities'
import { HOUR, MAX, T0, key, record, write } from './fixtures'

/**
 * Registers the tests; `current` gives the store of the running test. The core is tested on every
 * store; what only `listSubject` and `stats` show, on stores that declare them.
 */
export function webAppConformance(current: () => FullSessionStore, declared: ReadonlySet<StoreCapability>) {
  const subjects = declared.has('subjects')
  const stats = declared.has('stats')
  test('take deletes fields and returns what they held; missing fields are left out', async () => {
    const store = current()
    const k = key()
    await store.create(k, record({ keep: 1, 'flash:notice': 'Welcome', 'flash:list': [1, { a: 'b' }] }), MAX)
    const taken = await store.take(k, ['flash:notice', 'flash:list', 'flash:none'], write(T0 + 10))
    expect(taken).toEqual({ 'flash:notice': 'Welcome', 'flash:list': [1, { a: 'b' }] })
    const after = await store.get(k, T0 + 20)
    expect(after?.data).toEqual({ keep: 1 })
    expect(after?.expiresAt).toBe(T0 + 10 + HOUR)
    expect(after?.lastSeenAt).toBe(T0 + 10)
    expect(await store.take(k, ["flash:notice"], { now: T0 + 30, maxBytes: MAX })).toEqual({})
    expect((await store.get(k, T0 + 40))?.expiresAt).toBe(T0 + 10 + HOUR) // no expiresAt: deadline kept
  })

  test('take of a missing or expired record is undefined', async () => {
    const store = current()
    expect(await store.take(key(), ['a'], write(T0))).toBeUndefined()
    const k = key()
    await store.create(k, record({ a: 1 }, T0, T0 + 10), MAX)
    expect(await store.take(k, ['a'], write(T0 + 10))).toBeUndefined()
  })

  test('parallel takes: exactly one gets each value', async () => {
    const store = current()
    const k = key()
    await store.create(k, record({ 'flash:a': 'x', 'flash:b': 'y', other: 1 }), MAX)
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.take(k, ['flash:a', 'flash:b'], write(T0 + i))))
    const got = results.flatMap((taken) => Object.entries(taken ?? {}))
    expect(got.sort()).toEqual([['flash:a', 'x'], ['flash:b', 'y']])
    expect((await store.get(k, T0 + 100))?.data).toEqual({ other: 1 })
  })

  test('remembered: set at create or by update, kept by other writes and rename (and listed and counted, with those capabilities)', async () => {
    const store = current()
    const [a, b, c] = [key(), key(), key()]
    await store.create(a, record({ n: 1 }, T0, T0 + HOUR, { subject: 'carol', remembered: true }), MAX)
    await store.create(b, record({ n: 2 }, T0, T0 + HOUR, { subject: 'carol' }), MAX)
    expect((await store.get(a, T0 + 1))?.remembered).toBe(true)
    expect(!!(await store.get(b, T0 + 1))?.remembered).toBe(false)
    await store.update(a, { set: { n: 5 }, unset: [] }, write(T0 + 2))
    await store.increment(a, 'n', 1, write(T0 + 3))
    await store.take(a, ['n'], write(T0 + 4))
    await store.touch(a, T0 + 5, T0 + HOUR)
    expect((await store.get(a, T0 + 6))?.remembered).toBe(true)
    await store.update(b, { set: {}, unset: [], remembered: true }, write(T0 + 7))
    await store.rename(b, c, T0 + 8)
    expect((await store.get(c, T0 + 9))?.remembered).toBe(true)
    if (subjects) expect((await store.listSubject('carol', T0 + 10)).map((s) => s.remembered)).toEqual([true, true])
    if (stats) expect((await store.stats(T0 + 10)).remembered ?? 2).toBe(2)
    await store.update(c, { set: {}, unset: [], remembered: false }, write(T0 + 11))
    expect(!!(await store.get(c, T0 + 12))?.remembered).toBe(false)
    if (subjects) {
      expect((await store.listSubject('carol', T0 + 13)).map((s) => [s.key, s.remembered])).toEqual([
        [c, false],
        [a, true],
      ])
    }
    if (stats) expect((await store.stats(T0 + 13)).remembered ?? 1).toBe(1)
  })

  test('rename with a User-Agent records it as the device of the session; without, keeps it', async () => {
    const store = current()
    const [a, b, c] = [key(), key(), key()]
    await store.create(a, record({ n: 1 }, T0, T0 + HOUR, { subject: 'dave', userAgent: 'Old/1.0' }), MAX)
    await store.rename(a, b, T0 + 1)
    expect((await store.get(b, T0 + 2))?.userAgent).toBe('Old/1.0')
    await store.rename(b, c, T0 + 3, undefined, 'New/2.0')
    expect((await store.get(c, T0 + 4))?.userAgent).toBe('New/2.0')
    if (subjects) expect((await store.listSubject('dave', T0 + 5))[0]?.userAgent).toBe('New/2.0')
  })
}
