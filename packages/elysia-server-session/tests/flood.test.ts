import { afterAll, describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import fc from 'fast-check'
import { memoryStore, session, sign, generateId, type SessionEvent, type SessionOptions, type FullSessionStore } from '../src'
import { SECRET, client, cookieOf, handleWith } from './helpers'
import { createFloodGuard } from '../src/flood'

type Data = { views: number }
const stores: FullSessionStore[] = []
afterAll(async () => {
  for (const store of stores) await store.close()
})

/** The counter behind one trusted proxy, so X-Forwarded-For names the client under `app.handle`. */
function counter(options: Partial<SessionOptions> = {}) {
  const store = memoryStore({ pruneIntervalMs: 0 })
  stores.push(store)
  const events: SessionEvent[] = []
  const warnings: string[] = []
  const app = new Elysia()
    .use(
      session<Data>({
        store,
        secrets: [SECRET],
        trustProxy: 1,
        onEvent: (event) => events.push(event),
        logger: { warn: (message) => warnings.push(message), error: () => {} },
        ...options,
      })
    )
    .get('/', async ({ session }) => String(await session.increment('views')))
  const send = handleWith(app)
  const from = (address: string, cookie?: string) =>
    send('/', { headers: { 'x-forwarded-for': address, ...(cookie === undefined ? {} : { cookie }) } })
  const live = async () => (await store.stats(Date.now())).live
  return { send, from, events, warnings, live }
}

describe('flood detection (the default): nobody is ever refused', () => {
  test('700 new visitors from one address all get a session; one flood event and one warning', async () => {
    const { from, events, warnings, live } = counter()
    for (let i = 0; i < 700; i++) {
      const response = await from('192.0.2.7', i % 2 ? 'id=bad.cookie' : undefined)
      expect(response.status).toBe(200)
      expect(cookieOf(response)).toStartWith('id=')
    }
    expect(await live()).toBe(700)
    expect(events.filter((e) => e.type === 'flood')).toEqual([{ type: 'flood', address: '192.0.2.7', at: expect.any(Number) }])
    expect(warnings.filter((w) => w.includes('192.0.2.7'))).toHaveLength(1)
  })

  test('at most one warning per address per window; the next window may warn again', async () => {
    const clock = { now: 1_700_000_000_000 }
    const { from, warnings } = counter({ flood: { threshold: 2, windowSeconds: 60 }, now: () => clock.now })
    for (let i = 0; i < 10; i++) await from('192.0.2.8')
    expect(warnings).toHaveLength(1)
    clock.now += 60_000
    for (let i = 0; i < 10; i++) await from('192.0.2.8')
    expect(warnings).toHaveLength(2)
  })
})

describe('flood blocking (opt-in)', () => {
  const setup = () => {
    const clock = { now: 1_700_000_000_000 }
    const fixture = counter({ flood: { threshold: 3, windowSeconds: 60, blockSeconds: 120 }, now: () => clock.now, idleTimeout: 60 })
    return { ...fixture, clock }
  }

  test('new visitors and validly signed but dead IDs never count', async () => {
    const { from, events } = setup()
    for (let i = 0; i < 10; i++) expect(cookieOf(await from('192.0.2.9'))).toStartWith('id=')
    for (let i = 0; i < 10; i++) expect(cookieOf(await from('192.0.2.9', `id=${encodeURIComponent(sign(generateId(), SECRET))}`))).toStartWith('id=')
    expect(events.some((e) => e.type === 'flood' && 'blockSeconds' in e)).toBe(false)
    expect(cookieOf(await from('192.0.2.9'))).toStartWith('id=')
  })

  test('past the threshold of bad cookies: served without a stored session, never 429; valid sessions keep working', async () => {
    const { from, events, warnings, live } = setup()
    const regular = client((path, init) => from('192.0.2.10', new Headers(init.headers).get('cookie') ?? undefined))
    expect(await (await regular.request('/')).text()).toBe('1')
    for (let i = 0; i < 4; i++) expect((await from('192.0.2.10', 'id=forged.cookie')).status).toBe(200)
    // Detected once (1 new session + 3 bad cookies), then blocked once (the 4th bad cookie).
    expect(events.filter((e) => e.type === 'flood')).toEqual([
      { type: 'flood', address: '192.0.2.10', at: expect.any(Number) },
      { type: 'flood', address: '192.0.2.10', blockSeconds: 120, at: expect.any(Number) },
    ])
    expect(warnings.filter((w) => w.includes('192.0.2.10'))).toHaveLength(2)
    const before = await live()
    const blocked = await from('192.0.2.10')
    expect(blocked.status).toBe(200)
    expect(await blocked.text()).toBe('1')
    expect(blocked.headers.getSetCookie()).toEqual([])
    expect(await live()).toBe(before)
    expect(await (await regular.request('/')).text()).toBe('2')
    expect(cookieOf(await from('192.0.2.11'))).toStartWith('id=') // another address is not affected
  })

  test('requests while blocked are not counted and do not extend the block', async () => {
    const { from, clock, events } = setup()
    for (let i = 0; i < 4; i++) await from('192.0.2.12', 'id=forged.cookie')
    for (let i = 0; i < 11; i++) {
      clock.now += 10_000 // 110 s of bad cookies while blocked
      expect(cookieOf(await from('192.0.2.12', 'id=forged.cookie'))).toBeUndefined()
    }
    clock.now += 10_000 // the block's 120 s are over, however many bad cookies came meanwhile
    expect(cookieOf(await from('192.0.2.12'))).toStartWith('id=')
    expect(events.filter((e) => e.type === 'flood' && e.blockSeconds)).toHaveLength(1)
  })
})

describe('several cookies of our name (cookie tossing)', () => {
  const { send } = counter()
  const visit = (cookie: string) => send('/', { headers: { cookie } })

  test('`id=garbage; id=<valid>` finds the valid session', async () => {
    const first = await visit('')
    const valid = cookieOf(first)!
    const response = await visit(`id=garbage; ${valid}`)
    expect(await response.text()).toBe('2')
    expect(await (await visit(`id=${encodeURIComponent(sign(generateId(), SECRET))}; other=1; ${valid}`)).text()).toBe('3')
  })

  test('property: with up to 4 candidates, the first live one is found; past the bound none is tried', async () => {
    const junk = fc.oneof(
      fc.string({ unit: 'grapheme-ascii', maxLength: 40 }).map((s) => s.replace(/[;,\s"]/g, '') || 'x'),
      fc.constant(null).map(() => encodeURIComponent(sign(generateId(), SECRET))),
      fc.constantFrom('%E0%A4%A', 'x.y', '%')
    )
    await fc.assert(
      fc.asyncProperty(fc.array(junk, { maxLength: 6 }), fc.nat(), async (others, at) => {
        const live = cookieOf(await visit(''))!
        const position = at % (others.length + 1)
        const pairs = others.map((value) => `id=${value}`)
        pairs.splice(position, 0, live)
        const response = await visit(pairs.join('; '))
        expect(response.status).toBe(200)
        expect(await response.text()).toBe(position < 4 ? '2' : '1')
      }),
      { numRuns: 100 }
    )
  })
})

test('bad flood options are a TypeError that names the option', () => {
  const store = memoryStore({ pruneIntervalMs: 0 })
  stores.push(store)
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ threshold: -1 }, /flood\.threshold/],
    [{ windowSeconds: 0 }, /flood\.windowSeconds/],
    [{ blockSeconds: Number.NaN }, /flood\.blockSeconds/],
    [{ maxAddresses: '5' }, /flood\.maxAddresses/],
  ]
  for (const [flood, message] of bad) expect(() => session({ store, secrets: [SECRET], flood })).toThrow(message)
  expect(() => session({ store, secrets: [SECRET], flood: { threshold: 0, blockSeconds: 0 } })).not.toThrow()
})

test('a full address table forgets the least recently seen addresses first, a 64th of maxAddresses at a time', () => {
  const guard = createFloodGuard({ threshold: 1, maxAddresses: 128 })
  const at = 1_700_000_000_000
  const addresses = Array.from({ length: 129 }, (_, i) => `10.0.0.${i}`)
  for (const address of addresses.slice(0, 128)) expect(guard.note(address, 'created', at)).toBeUndefined()
  expect(guard.note(addresses[0]!, 'created', at)).toBe('flood') // seen again: now the most recent
  guard.note(addresses[128]!, 'created', at) // full: the two least recently seen are forgotten
  // Forgotten addresses count from 1 again (no flood); remembered ones reach the threshold.
  expect(guard.note(addresses[3]!, 'created', at)).toBe('flood')
  expect(guard.note(addresses[2]!, 'created', at)).toBeUndefined()
  expect(guard.note(addresses[1]!, 'created', at)).toBeUndefined()
})
