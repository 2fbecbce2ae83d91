/**
 * Schema-typed sessions: TypeBox (Elysia's `t`) and a real Standard Schema library (Valibot).
 * The session's type comes from the schema (`tsc --noEmit` checks the `@ts-expect-error` lines),
 * and stored data the schema rejects is no session: a fresh one and an `invalid` event, never a 500.
 */
import { describe, expect, test } from 'bun:test'
import { Elysia, t } from 'elysia'
import * as v from 'valibot'
import { memoryStore, session, type Session, type SessionData, type SessionEvent, type SessionSchema, type SessionStore, type StandardSchemaV1 } from '../src'
import { SECRET, client, handleWith } from './helpers'

const quiet = { warn: () => {}, error: () => {} }

/** `true` only when A and B are the same type. */
type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false

/**
 * An app whose `/write` stores whatever JSON body it is given (no schema), and one on the same
 * store and cookie whose `/read` has `schema`: the second sees what the first stored.
 */
function writerAndReader(store: SessionStore, schema: SessionSchema, extra: { validate?: (data: Record<string, unknown>) => boolean } = {}) {
  const events: SessionEvent[] = []
  const errors: string[] = []
  const writer = new Elysia()
    .use(session({ store, secrets: [SECRET] }))
    .post('/write', ({ session, body }) => {
      for (const [key, value] of Object.entries(body as SessionData)) session.set(key, value)
      return 'stored'
    })
  const reader = new Elysia()
    .use(session({ store, secrets: [SECRET], schema, onEvent: (event) => events.push(event), logger: { warn: () => {}, error: (m) => errors.push(m) }, ...extra }))
    .get('/read', ({ session }) => ({ isNew: session.isNew, data: Object.fromEntries(['views', 'name', 'extra'].map((key) => [key, (session as any).get(key)])) }))
  const browser = client((path, init) => (path === '/write' ? writer : reader).handle(new Request(`http://localhost${path}`, init)))
  const write = (data: unknown) =>
    browser.request('/write', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(data) })
  const read = async () => {
    const response = await browser.request('/read')
    return { status: response.status, ...((await response.json()) as { isNew: boolean; data: Record<string, unknown> }) }
  }
  return { write, read, events, errors }
}

const typebox = t.Object({ views: t.Number(), name: t.Optional(t.String()) })
const valibot = v.object({ views: v.number(), name: v.optional(v.string()) })

describe.each([
  ['TypeBox (Elysia t)', typebox],
  ['Standard Schema (Valibot)', valibot],
] as const)('%s', (_, schema) => {
  test('valid stored data loads', async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const { write, read, events } = writerAndReader(store, schema)
    await write({ views: 3, name: 'ann' })
    expect(await read()).toEqual({ status: 200, isNew: false, data: { views: 3, name: 'ann' } })
    expect(events.filter((event) => event.type === 'invalid')).toEqual([])
    await store.close()
  })

  test('invalid stored data is a fresh session and an invalid event, and stays stored', async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const { write, read, events } = writerAndReader(store, schema)
    await write({ views: 'many' })
    expect(await read()).toEqual({ status: 200, isNew: true, data: {} })
    expect(events.map((event) => event.type)).toEqual(['invalid'])
    expect(events[0]!.session).toBeString()
    expect((await store.stats!(Date.now())).live).toBe(1) // never loses stored data
    await store.close()
  })

  test('composes with validate: validate runs on what the schema accepted', async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const { write, read, events } = writerAndReader(store, schema, { validate: (data) => (data.views as number) > 0 })
    await write({ views: -1 })
    expect((await read()).isNew).toBe(true)
    expect(events.map((event) => event.type)).toEqual(['invalid'])
    await store.close()
  })
})

test("a Standard Schema's output is the session's data (Valibot drops keys it does not know)", async () => {
  const store = memoryStore({ pruneIntervalMs: 0 })
  const { write, read } = writerAndReader(store, valibot)
  await write({ views: 2, extra: 'x' })
  expect((await read()).data).toEqual({ views: 2 })
  await store.close()
})

test('an async Standard Schema validator is awaited', async () => {
  const store = memoryStore({ pruneIntervalMs: 0 })
  const asyncViews = v.objectAsync({ views: v.pipeAsync(v.number(), v.checkAsync(async (views) => views < 10)) })
  const { write, read, events } = writerAndReader(store, asyncViews)
  await write({ views: 5 })
  expect(await read()).toEqual({ status: 200, isNew: false, data: { views: 5 } })
  await write({ views: 50 })
  expect((await read()).isNew).toBe(true)
  expect(events.map((event) => event.type)).toEqual(['invalid'])
  await store.close()
})

test('a validator that throws is no session and a log line, never a 500', async () => {
  const store = memoryStore({ pruneIntervalMs: 0 })
  const throwing: StandardSchemaV1<unknown, { views: number }> = {
    '~standard': { version: 1, vendor: 'test', validate: () => { throw new Error('validator bug') } },
  }
  const { write, read, errors } = writerAndReader(store, throwing)
  await write({ views: 1 })
  expect(await read()).toEqual({ status: 200, isNew: true, data: {} })
  expect(errors.join('\n')).toContain('validator bug')
  await store.close()
})

test('a schema that is neither TypeBox nor Standard Schema is a TypeError at configuration', () => {
  const store = memoryStore({ pruneIntervalMs: 0 })
  expect(() => session({ store, secrets: [SECRET], schema: { views: 'number' } as never })).toThrow(/`schema` must be a TypeBox schema .* or a Standard Schema/)
  expect(() => session({ store, secrets: [SECRET], schema: t.String() })).toThrow('`schema` describes a string, but session data is an object (use t.Object)')
  expect(() => session({ store, secrets: [SECRET], schema: t.Array(t.Number()) })).toThrow('describes an array')
})

describe("the session's type comes from the schema", () => {
  test("t.Object({ views: t.Number() }) gives exactly Session<{ views: number }>", async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const app = new Elysia().use(session({ schema: t.Object({ views: t.Number() }), store, secrets: [SECRET] })).get('/', ({ session }) => {
      const exact: Equal<typeof session, Session<{ views: number }>> = true
      return String(exact)
    })
    expect(await (await handleWith(app)('/', {})).text()).toBe('true')
    await store.close()
  })

  test('TypeBox', async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const app = new Elysia()
      .use(session({ store, secrets: [SECRET], logger: quiet, schema: t.Object({ views: t.Number(), name: t.Optional(t.String()) }) }))
      .get('/', async ({ session }) => {
        const views: number = await session.increment('views')
        if (views < 0) {
          // Never runs: these lines exist for the type checker.
          // @ts-expect-error `views` is a number
          session.set('views', 'many')
          // @ts-expect-error not in the schema
          session.set('nope', 1)
          // @ts-expect-error `name` is a string: increment takes numeric keys only
          await session.increment('name')
        }
        const name: string | undefined = session.get('name')
        return `${views} ${name}`
      })
    expect(await (await handleWith(app)('/', {})).text()).toBe('1 undefined')
    await store.close()
  })

  test('Standard Schema (Valibot)', async () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const app = new Elysia()
      .use(session({ store, secrets: [SECRET], logger: quiet, schema: v.object({ views: v.number(), tags: v.array(v.string()) }) }))
      .get('/', async ({ session }) => {
        const views: number = await session.increment('views')
        if (views < 0) {
          // @ts-expect-error `tags` is an array of strings
          session.set('tags', [1])
          // @ts-expect-error not in the schema
          session.get('nope')
        }
        session.set('tags', ['a'])
        return String(views)
      })
    expect(await (await handleWith(app)('/', {})).text()).toBe('1')
    await store.close()
  })

  test('a schema of data that is not JSON (a Date) is a compile error at .use()', () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const options = { store, secrets: [SECRET], logger: quiet }
    const typebox = () =>
      // @ts-expect-error session data must be JSON: a Date is not
      new Elysia().use(session({ ...options, schema: t.Object({ at: t.Date() }) }))
    const valibot = () =>
      // @ts-expect-error session data must be JSON: a Date is not
      new Elysia().use(session({ ...options, schema: v.object({ at: v.date() }) }))
    expect([typebox, valibot]).toHaveLength(2) // never called: the lines exist for the type checker
  })

  test('session<T>() without a schema keeps working', () => {
    const store = memoryStore({ pruneIntervalMs: 0 })
    const options = { store, secrets: [SECRET], logger: quiet }
    const typed = new Elysia().use(session<{ views: number }>(options)).get('/', async ({ session }) => {
      // @ts-expect-error `views` is a number
      if (session.isNew && (await session.increment('views')) < 0) session.set('views', 'x')
      return 'ok'
    })
    expect(typed).toBeInstanceOf(Elysia)
  })
})
