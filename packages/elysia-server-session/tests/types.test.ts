/**
 * Type safety of the session API: each `@ts-expect-error` line must stay an error, or
 * `tsc --noEmit` (run by CI) fails. The runtime assertions keep the routes honest.
 */
import { expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { memoryStore, session, type Session } from '../src'
import { SECRET, handleWith } from './helpers'

type Data = { views: number; name: string }

test('keys and value types are checked at compile time', async () => {
  const store = memoryStore({ pruneIntervalMs: 0 })
  const app = new Elysia().use(session<Data>({ store, secrets: [SECRET] })).get('/', async ({ session }) => {
    session.set('name', 'ok')
    const views: number | undefined = session.get('views')
    if (views === -1) {
      // Never runs: these lines exist for the type checker.
      // @ts-expect-error a string is not a number
      session.set('views', 'many')
      // @ts-expect-error unknown key
      session.set('nope', 1)
      // @ts-expect-error `name` holds a string: increment takes numeric keys only
      await session.increment('name')
      // @ts-expect-error the ID is read-only
      session.id = 'x'
    }
    return session.get('name')
  })
  expect(await (await handleWith(app)('/', {})).text()).toBe('ok')
  await store.close()
})

test('CSRF options, the csrfToken route option and session.csrfToken() are typed', async () => {
  const store = memoryStore({ pruneIntervalMs: 0 })
  const app = new Elysia()
    .use(session<Data>({ store, secrets: [SECRET], csrf: { exempt: ['POST /hook'], trustedOrigins: ['https://a.example'] } }))
    .get('/form', async ({ session }) => {
      const token: string = await session.csrfToken()
      return token
    })
    .post('/save', () => 'saved', { csrfToken: true })
  if (store === undefined) {
    // Never runs: these lines exist for the type checker.
    // @ts-expect-error exempt is a list of 'METHOD /path' strings
    session({ store, secrets: [SECRET], csrf: { exempt: 'POST /hook' } })
    // @ts-expect-error csrf is options or false
    session({ store, secrets: [SECRET], csrf: true })
    const someSession = undefined as unknown as Session<Data>
    // @ts-expect-error the token is a promise: await it
    const unawaited: string = someSession.csrfToken()
  }
  const send = handleWith(app)
  const form = await send('/form', {})
  const cookie = form.headers.getSetCookie()[0]!.split(';')[0]!
  expect((await send('/save', { method: 'POST', headers: { cookie } })).status).toBe(403)
  expect(await (await send('/save', { method: 'POST', headers: { cookie, 'x-csrf-token': await form.text() } })).text()).toBe('saved')
  await store.close()
})

interface Item {
  sku: string
  tags: string[]
}
type Cart = { cart: Item[]; pair?: [number, string]; at?: number }

test('session data is JSON: Date, Map, Set, bigint, functions and objects with methods are compile errors', () => {
  const store = memoryStore({ pruneIntervalMs: 0 })
  const secrets = [SECRET]
  session<Cart>({ store, secrets }) // interfaces and tuples are fine
  session({ store, secrets }) // untyped: any JSON
  // @ts-expect-error a Date is not JSON: store date.getTime()
  session<{ at: Date }>({ store, secrets })
  // @ts-expect-error a Map is not JSON
  session<{ seen: Map<string, number> }>({ store, secrets })
  // @ts-expect-error a Set is not JSON
  session<{ seen: Set<string> }>({ store, secrets })
  // @ts-expect-error a bigint is not JSON
  session<{ big: bigint }>({ store, secrets })
  // @ts-expect-error a function is not JSON
  session<{ callback: () => void }>({ store, secrets })
  // @ts-expect-error nested too
  session<{ list: { at: Date }[] }>({ store, secrets })
  class Point {
    x = 0
    length() {
      return Math.abs(this.x)
    }
  }
  // @ts-expect-error a class instance with methods does not survive JSON
  session<{ point: Point }>({ store, secrets })
  // @ts-expect-error unknown could be anything
  session<{ anything: unknown }>({ store, secrets })
  store.close()
})

test('get() is read-only all the way down: change a copy, then set it', async () => {
  const store = memoryStore({ pruneIntervalMs: 0 })
  const app = new Elysia().use(session<Cart>({ store, secrets: [SECRET] })).get('/', ({ session }) => {
    const cart = session.get('cart') ?? []
    if (cart.length === -1) {
      // Never runs: these lines exist for the type checker.
      // @ts-expect-error push on a read-only array
      cart.push({ sku: 'x', tags: [] })
      // @ts-expect-error assignment to a read-only property
      cart[0]!.sku = 'y'
      // @ts-expect-error nested arrays are read-only too
      cart[0]!.tags.push('z')
      const pair = session.get('pair')!
      // @ts-expect-error tuples too
      pair[0] = 2
      const first: number = pair[0]
      // @ts-expect-error a Date is no value for a JSON key
      session.set('at', new Date())
      void first
    }
    session.set('cart', [...cart, { sku: 'a', tags: ['new'] }])
    return String(session.get('cart')!.length)
  })
  expect(await (await handleWith(app)('/', {})).text()).toBe('1')
  await store.close()
})
