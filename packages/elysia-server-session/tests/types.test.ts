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
