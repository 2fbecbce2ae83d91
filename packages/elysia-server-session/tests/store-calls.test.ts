import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { session, sqliteStore, type SessionStore, type StoreOperation } from '../src'
import { SECRET, client, handleWith, tempDir } from './helpers'

const dir = tempDir()

/** An app whose `onStoreCall` pushes each call onto `calls`; `broken` makes the store's increment fail. */
function setup(onStoreCall?: (operation: StoreOperation, seconds: number, failed: boolean) => void) {
  const inner = sqliteStore({ path: join(dir, `calls${Math.random()}.db`), pruneIntervalMs: 0 })
  const state = { broken: false }
  const store: SessionStore = Object.create(inner, {
    increment: { value: (...args: Parameters<SessionStore['increment']>) => (state.broken ? Promise.reject(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' })) : inner.increment(...args)) },
  })
  const errors: string[] = []
  const app = new Elysia()
    .use(session<{ views: number }>({ store, secrets: [SECRET], onStoreCall, logger: { warn: () => {}, error: (line) => errors.push(line) } }))
    .get('/', async ({ session }) => String(await session.increment('views')))
    .post('/logout', async ({ session }) => (await session.destroy(), 'bye'))
  return { visitor: client(handleWith(app)), state, errors, close: () => inner.close() }
}

test('onStoreCall is told each store call the session layer makes: its operation, seconds, and whether it failed', async () => {
  const calls: [StoreOperation, number, boolean][] = []
  const { visitor, state, close } = setup((operation, seconds, failed) => calls.push([operation, seconds, failed]))
  expect(await (await visitor.request('/')).text()).toBe('1') // a new session: nothing to read, one create
  expect(calls.map(([operation]) => operation)).toEqual(['create'])
  expect(await (await visitor.request('/')).text()).toBe('2')
  expect(calls.map(([operation]) => operation)).toEqual(['create', 'get', 'increment'])
  state.broken = true
  expect((await visitor.request('/')).status).toBe(503)
  expect(calls.slice(3).map(([operation, , failed]) => [operation, failed])).toEqual([['get', false], ['increment', true]])
  state.broken = false
  await visitor.request('/logout', { method: 'POST', headers: { 'sec-fetch-site': 'same-origin' } })
  expect(calls.slice(5).map(([operation, , failed]) => [operation, failed])).toEqual([['get', false], ['destroy', false]])
  for (const [, seconds] of calls) expect(seconds).toBeGreaterThanOrEqual(0)
  for (const [, seconds] of calls) expect(seconds).toBeLessThan(5)
  await close()
})

test('an onStoreCall hook that throws is logged and changes no answer', async () => {
  const { visitor, errors, close } = setup(() => {
    throw new Error('histogram broke')
  })
  expect(await (await visitor.request('/')).text()).toBe('1')
  expect(await (await visitor.request('/')).text()).toBe('2')
  expect(errors).toContain('session onStoreCall hook failed: Error: histogram broke')
  await close()
})
