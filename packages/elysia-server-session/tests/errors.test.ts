/**
 * Every error the package exports has a stable `code` of its own, and answers with it: in the
 * JSON body for a client that accepts JSON, else in text, with the same status and headers.
 */
import { expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import * as index from '../src'
import { memoryStore, session, SessionCsrfError, SessionError, SessionStoreError, type SessionStore } from '../src'
import { SECRET, handleWith } from './helpers'

const errorClasses = Object.entries(index).filter(
  (entry): entry is [string, typeof SessionError] => typeof entry[1] === 'function' && entry[1].prototype instanceof Error
)

test('every exported error is a SessionError with a distinct, stable code', () => {
  expect(errorClasses.map(([name]) => name).sort()).toEqual(
    ['SessionCommittedError', 'SessionCsrfError', 'SessionError', 'SessionOldIdError', 'SessionRequiredError', 'SessionStoreError', 'SessionTooLargeError', 'SessionValueError'].sort()
  )
  const codes: string[] = []
  for (const [name, ErrorClass] of errorClasses) {
    if (ErrorClass === SessionError) continue
    expect(ErrorClass.prototype).toBeInstanceOf(SessionError)
    const code = (ErrorClass as unknown as { code: string }).code
    expect(code).toMatch(/^SESSION_[A-Z_]+$/)
    const instance = new (ErrorClass as unknown as new () => SessionError)()
    expect({ name, code: instance.code }).toEqual({ name, code })
    codes.push(code)
  }
  // The store error's own codes, by the engine's fault.
  for (const fault of ['SQLITE_FULL', 'SQLITE_BUSY']) codes.push(new SessionStoreError('x', { cause: Object.assign(new Error(fault), { code: fault }) }).code)
  codes.push(new SessionCsrfError('token').code)
  expect(codes).toEqual([...new Set(codes)])
  expect(codes).toContain('SESSION_STORE_UNAVAILABLE')
  expect(codes).toContain('SESSION_STORE_FULL')
  expect(codes).toContain('SESSION_STORE_BUSY')
})

/** An app whose store fails every create with `fault`. */
function failingApp(fault: Error) {
  const store = memoryStore({ pruneIntervalMs: 0 })
  const broken = Object.assign(Object.create(store), { create: async () => { throw fault } }) as SessionStore
  const app = new Elysia()
    .use(session<{ views: number }>({ store: broken, secrets: [SECRET], logger: { warn: () => {}, error: () => {} } }))
    .get('/', async ({ session }) => String(await session.increment('views')))
  return { app, store }
}

test('a store fault to a client that accepts JSON: 503 { error: SESSION_STORE_UNAVAILABLE, message }, Retry-After kept', async () => {
  const { app, store } = failingApp(new Error('disk on fire'))
  const response = await handleWith(app)('/', { headers: { accept: 'application/json' } })
  expect(response.status).toBe(503)
  expect(response.headers.get('content-type')).toStartWith('application/json')
  expect(response.headers.get('retry-after')).toBe('1')
  expect(response.headers.get('cache-control')).toBe('no-store')
  expect(await response.json()).toEqual({
    error: 'SESSION_STORE_UNAVAILABLE',
    message: 'Session storage is unavailable; nothing was saved. Please retry shortly.',
  })
  expect(response.headers.getSetCookie()).toEqual([])
  await store.close()
})

test('a full disk: SESSION_STORE_FULL in JSON, the same words in text', async () => {
  const { app, store } = failingApp(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }))
  const json = await handleWith(app)('/', { headers: { accept: 'application/json' } })
  expect(json.status).toBe(503)
  expect(json.headers.get('retry-after')).toBe('30')
  const body = (await json.json()) as { error: string; message: string }
  expect(body.error).toBe('SESSION_STORE_FULL')
  const text = await handleWith(app)('/', {})
  expect(text.status).toBe(503)
  expect(text.headers.get('content-type')).toStartWith('text/plain')
  expect(await text.text()).toBe(`${body.message}\n`)
  await store.close()
})

test('session data over maxBytes: 500 { error: SESSION_TOO_LARGE }', async () => {
  const store = memoryStore({ pruneIntervalMs: 0 })
  const app = new Elysia()
    .use(session<{ name: string }>({ store, secrets: [SECRET], maxBytes: 10 }))
    .get('/', ({ session }) => (session.set('name', 'x'.repeat(100)), 'set'))
  const response = await handleWith(app)('/', { headers: { accept: 'application/json' } })
  expect(response.status).toBe(500)
  expect(((await response.json()) as { error: string }).error).toBe('SESSION_TOO_LARGE')
  await store.close()
})
