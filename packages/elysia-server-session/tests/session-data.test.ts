/**
 * Nothing a handler writes is lost silently, over real HTTP on SQLite: changes after the commit
 * throw, values mutated in place are committed for stored sessions as for new ones, and values
 * JSON cannot hold are a 500 naming the key, never a store fault.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { SessionCommittedError, session, sqliteStore, type FullSessionStore, type SessionStore } from '../src'
import { SECRET, client, cookieOf, handleWith, tempDir } from './helpers'

type Data = { views: number; note: string; cart: string[] }
const dir = tempDir('session-data-')
let n = 0
const stores: FullSessionStore[] = []
afterAll(async () => {
  for (const store of stores) await store.close()
})

/** An app on a fresh SQLite file; `updates` counts the store's update calls, `logged` its error log. */
function setup() {
  const inner = sqliteStore({ path: join(dir, `d${n++}.db`), pruneIntervalMs: 0 })
  stores.push(inner)
  const counts = { updates: 0 }
  const store: SessionStore = Object.assign(Object.create(inner), {
    update: (...args: Parameters<SessionStore['update']>) => (counts.updates++, inner.update(...args)),
  })
  const logged: string[] = []
  const thrown: string[] = []
  const late: unknown[] = []
  const app = new Elysia()
    .onError(({ error }) => void thrown.push(error instanceof Error ? error.message : String(error)))
    .use(session<Data>({ store, secrets: [SECRET], logger: { warn: () => {}, error: (m) => logged.push(m) } }))
    .get('/', async ({ session }) => String(await session.increment('views')))
    .get('/read', ({ session }) => ({ note: session.get('note') ?? null, cart: session.get('cart') ?? null }))
    .get('/stream', async function* ({ session }) {
      yield 'first chunk\n'
      try {
        session.set('note', 'streamed')
        yield 'saved\n'
      } catch (error) {
        yield `${(error as Error).name}: ${(error as Error).message}\n`
      }
    })
    .get('/later', ({ session }) => {
      const attempts: [string, () => unknown][] = [
        ['set', () => session.set('note', 'too late')],
        ['delete', () => session.delete('views')],
        ['setSubject', () => session.setSubject('alice')],
        ['increment', () => session.increment('views')],
      ]
      setTimeout(() => {
        for (const [, attempt] of attempts) {
          try {
            attempt()
            late.push('no error')
          } catch (error) {
            late.push(error)
          }
        }
      }, 0)
      return 'ok'
    })
    .get('/push', ({ session, query }) => {
      if (!session.has('cart')) session.set('cart', [])
      // Mutation in place, which the types forbid: the runtime must still not lose it.
      ;(session.get('cart') as unknown as string[]).push(query.x!)
      return 'pushed'
    })
    .get('/bad', ({ session, query }) => {
      session.set('note', BAD[query.kind!]!() as never)
      return 'should not be sent'
    })
    .get('/bad-in-place', ({ session }) => {
      ;(session.get('cart') as unknown as unknown[]).push(new Map())
      return 'should not be sent'
    })
  return { send: handleWith(app), counts, logged, thrown, late, store: inner }
}

class Point {
  constructor(readonly x: number) {}
}
const cycle = () => {
  const value: Record<string, unknown> = { a: 1 }
  value.self = value
  return value
}
const BAD: Record<string, () => unknown> = {
  date: () => new Date(0),
  map: () => new Map([['a', 1]]),
  set: () => new Set([1]),
  bigint: () => 10n,
  function: () => () => 1,
  nan: () => Number.NaN,
  infinity: () => Infinity,
  'nested date': () => ({ list: [{ at: new Date(0) }] }),
  'undefined in an array': () => [1, undefined],
  'class instance': () => new Point(1),
  cycle,
}

describe('changes after the commit', () => {
  test('a streaming handler that writes after the commit gets a clear error naming the key', async () => {
    const { send } = setup()
    const c = client(send)
    await c.request('/')
    const body = await (await c.request('/stream')).text()
    expect(body).toStartWith('first chunk\n')
    expect(body).toContain('SessionCommittedError: session.set("note") after the session was committed')
    expect(await (await c.request('/read')).json()).toEqual({ note: null, cart: null })
  })

  test('set, delete, setSubject and increment from a timer after the response throw instead of vanishing', async () => {
    const { send, late } = setup()
    const c = client(send)
    await c.request('/')
    expect(await (await c.request('/later')).text()).toBe('ok')
    await Bun.sleep(20)
    expect(late).toHaveLength(4)
    for (const error of late) expect(error).toBeInstanceOf(SessionCommittedError)
    expect((late as Error[]).map((e) => e.message.split(' after')[0])).toEqual([
      'session.set("note")',
      'session.delete("views")',
      'session.setSubject()',
      'session.increment("views")',
    ])
    expect(await (await c.request('/')).text()).toBe('2')
  })
})

describe('values mutated in place', () => {
  test('are committed for a stored session as for a new one; a read that mutates nothing writes nothing', async () => {
    const { send, counts } = setup()
    const c = client(send)
    await c.request('/push?x=a') // a new session: set, then mutated in place
    await c.request('/push?x=b') // a stored session: mutated in place only
    expect(await (await c.request('/read')).json()).toEqual({ note: null, cart: ['a', 'b'] })
    const before = counts.updates
    await c.request('/read')
    expect(counts.updates).toBe(before)
  })
})

describe('values JSON cannot hold', () => {
  for (const kind of Object.keys(BAD)) {
    test(`${kind}: a 500 naming the key, nothing stored, no store fault logged`, async () => {
      const { send, logged, thrown } = setup()
      const fresh = await send(`/bad?kind=${encodeURIComponent(kind)}`, {})
      expect(fresh.status).toBe(500)
      expect(await fresh.text()).toContain('"note"')
      expect(cookieOf(fresh)).toBeUndefined()
      const c = client(send)
      await c.request('/')
      const stored = await c.request(`/bad?kind=${encodeURIComponent(kind)}`)
      expect(stored.status).toBe(500)
      expect(thrown.at(-1)).toStartWith('session value "note" cannot be stored: note')
      expect(await (await c.request('/read')).json()).toEqual({ note: null, cart: null })
      expect(logged).toEqual([])
    })
  }

  test('a stored value mutated in place into something JSON cannot hold is a 500 too', async () => {
    const { send, logged, thrown } = setup()
    const c = client(send)
    await c.request('/push?x=a')
    const response = await c.request('/bad-in-place')
    expect(response.status).toBe(500)
    expect(thrown.at(-1)).toBe('session value "cart" cannot be stored: cart[1]: a Map is not JSON')
    expect(await (await c.request('/read')).json()).toEqual({ note: null, cart: ['a'] })
    expect(logged).toEqual([])
  })
})
