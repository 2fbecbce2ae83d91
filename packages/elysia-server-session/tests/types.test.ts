/**
 * Type safety of the session API: each `@ts-expect-error` line must stay an error, or
 * `tsc --noEmit` (run by CI) fails. The runtime assertions keep the routes honest.
 */
import { expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { memoryStore, session } from '../src'
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
