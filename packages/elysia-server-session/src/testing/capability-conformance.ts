/**
 * The optional capabilities (`capabilities.ts`) as tests, run inside `storeConformance`: those the
 * store declares are tested, the others listed as skipped.
 */
import { expect, test } from 'bun:test'
import { hasCapability, type FullSessionStore, type StoreCapability } from '../capabilities'
import { HOUR, MAX, T0, key, record, write } from './fixtures'

/** Registers one test per capability; `current()` is the fresh store of the running test. */
export function capabilityConformance(current: () => FullSessionStore, declared: ReadonlySet<StoreCapability>) {
  /** `test` for a declared capability, skipped (and listed as skipped) for the others. */
  const withCapability = (capability: StoreCapability) => test.if(declared.has(capability))

  withCapability('subjects')('subjects: bound at create or by update, listed newest first, revoked all at once', async () => {
    const store = current()
    const [a, b, c, other] = [key(), key(), key(), key()]
    await store.create(a, record({ n: 1 }, T0, T0 + HOUR, { subject: 'alice', userAgent: 'Firefox' }), MAX)
    await store.create(b, record({ n: 2 }, T0 + 5, T0 + HOUR, { subject: 'alice' }), MAX)
    await store.create(c, record({ n: 3 }, T0, T0 + 10, { subject: 'alice' }), MAX) // expires first
    await store.create(other, record({ n: 4 }), MAX)
    await store.update(other, { set: {}, unset: [], subject: 'bob' }, write(T0 + 1))
    expect(await store.listSubject('alice', T0 + 20)).toEqual([
      { key: b, createdAt: T0 + 5, lastSeenAt: T0 + 5, expiresAt: T0 + HOUR, remembered: false },
      { key: a, createdAt: T0, lastSeenAt: T0, expiresAt: T0 + HOUR, remembered: false, userAgent: 'Firefox' },
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

  withCapability('subjects')("destroySubject deletes the subject's records and their grace pointers", async () => {
    const store = current()
    const [from, to, other] = [key(), key(), key()]
    await store.create(from, record({ views: 1 }, T0, T0 + HOUR, { subject: 'erin' }), MAX)
    await store.create(other, record({ views: 2 }, T0, T0 + HOUR, { subject: 'frank' }), MAX)
    await store.rename(from, to, T0 + 10, T0 + 5000)
    expect(await store.destroySubject('erin')).toBe(1)
    expect(await store.get(from, T0 + 20)).toBeUndefined()
    expect(await store.get(to, T0 + 20)).toBeUndefined()
    await store.create(from, record({ fresh: true }, T0 + 20), MAX)
    expect((await store.get(from, T0 + 30))?.data).toEqual({ fresh: true })
    expect((await store.get(other, T0 + 30))?.data).toEqual({ views: 2 })
  })

  withCapability('stats')('stats: a grace pointer is no record, its record counts once', async () => {
    const store = current()
    const from = key()
    const to = key()
    await store.create(from, record({ views: 1 }, T0, T0 + HOUR, { subject: 'dora' }), MAX)
    await store.rename(from, to, T0 + 10, T0 + 1010)
    expect((await store.stats(T0 + 20)).live).toBe(1)
    if (hasCapability(store, 'subjects')) expect((await store.listSubject('dora', T0 + 20)).map((s) => s.key)).toEqual([to])
  })

  withCapability('destroyAll')('destroyAll deletes every session', async () => {
    const store = current()
    const keys = [key(), key(), key()]
    for (const k of keys) await store.create(k, record({}), MAX)
    expect(await store.destroyAll()).toBeGreaterThanOrEqual(3)
    for (const k of keys) expect(await store.get(k, T0)).toBeUndefined()
  })

  withCapability('prune')('prune deletes expired records only, at most `limit` at a time', async () => {
    const store = current()
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

  withCapability('stats')('stats counts live records, and expired ones not yet pruned', async () => {
    const store = current()
    await store.create(key(), record({ a: 1 }, T0, T0 + HOUR), MAX)
    await store.create(key(), record({ b: 1 }, T0, T0 + HOUR), MAX)
    await store.create(key(), record({ c: 1 }, T0, T0 + 10), MAX)
    const stats = await store.stats(T0 + 20)
    expect(stats.live).toBe(2)
    // Engines with native expiry (Redis) no longer hold the expired record.
    expect(stats.expired === 1 || stats.expired === 0).toBe(true)
  })
}
