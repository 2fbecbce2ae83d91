import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { createApp } from '../src/app'
import { createLogger } from '../src/log'
import { Elysia, NotFoundError } from 'elysia'
import { createServerMetrics, requestObserver, serveMetrics } from '../src/observability'
import { memoryStore, sqliteStore } from 'elysia-server-session'
import { SECRET, client, handleWith, tempDir } from './helpers'

const dir = tempDir('observability-')
const store = sqliteStore({ path: join(dir, 'metrics.db'), pruneIntervalMs: 0 })
afterAll(() => store.close())
const debugLines: string[] = []
const metrics = createServerMetrics(async () => (await store.stats(Date.now())).live)
const app = createApp({ store, metrics, secrets: [SECRET], log: { warn: () => {}, error: () => {}, debug: (m) => debugLines.push(m) } })
const send = handleWith(app)
const listener = serveMetrics(metrics, { port: 0, hostname: '127.0.0.1' })
afterAll(() => listener.stop(true))
const scrape = () => fetch(`http://127.0.0.1:${listener.port}/metrics`)

describe('GET /metrics', () => {
  test('Prometheus text with requests, session events, store latency and records stored, on its own listener', async () => {
    const c = client(send)
    await c.request('/')
    await c.request('/')
    await c.request('/logout', { method: 'POST' })
    await send('/nope', {})
    await metrics.refreshStored()
    const response = await scrape()
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(response.headers.getSetCookie()).toEqual([])
    const text = await response.text()
    expect(text).toContain('# TYPE http_requests_total counter')
    expect(text).toContain('http_requests_total{route="/",status="200"} 2')
    expect(text).toContain('http_requests_total{route="/logout",status="200"} 1')
    expect(text).toContain('http_requests_total{route="unmatched",status="404"} 1')
    expect(text).toContain('sessions_events_total{type="created"} 1')
    expect(text).toContain('sessions_events_total{type="destroyed"} 1')
    expect(text).toContain('# TYPE session_store_operation_seconds histogram')
    expect(text).toMatch(/session_store_operation_seconds_count\{operation="increment"\} 1\n/)
    expect(text).toMatch(/session_store_operation_seconds_bucket\{operation="create",le="\+Inf"\} 1\n/)
    expect(text).toContain('sessions_stored 0')
    expect((await fetch(`http://127.0.0.1:${listener.port}/`)).status).toBe(404)
    expect(debugLines.some((line) => /^GET \/ 200 \d+\.\dms$/.test(line))).toBe(true)
  })

  test('every answer is counted once, with the status it went out with', async () => {
    const counted = createServerMetrics(async () => 0)
    const app = new Elysia()
      .use(requestObserver(counted))
      .get('/text', ({ set }) => ((set.status = 418), 'tea'))
      .get('/named', ({ set }) => ((set.status = 'Accepted'), 'later'))
      .get('/response', () => new Response('made', { status: 201 }))
      .get('/status', ({ status }) => status(409, 'conflict'))
      .get('/async', async () => (await Bun.sleep(1), 'late'))
      .get('/throws', () => {
        throw new Error('boom')
      })
      .get('/missing', () => {
        throw new NotFoundError()
      })
    const sent: Record<string, number> = {}
    for (const path of ['/text', '/named', '/response', '/status', '/async', '/throws', '/missing', '/nowhere']) {
      sent[path] = (await app.handle(new Request(`http://localhost${path}`))).status
    }
    expect(sent).toEqual({ '/text': 418, '/named': 202, '/response': 201, '/status': 409, '/async': 200, '/throws': 500, '/missing': 404, '/nowhere': 404 })
    const lines = counted.render().split('\n').filter((line) => line.startsWith('http_requests_total{'))
    expect(lines.sort()).toEqual(
      [
        'http_requests_total{route="/async",status="200"} 1',
        'http_requests_total{route="/missing",status="404"} 1',
        'http_requests_total{route="/named",status="202"} 1',
        'http_requests_total{route="/response",status="201"} 1',
        'http_requests_total{route="/status",status="409"} 1',
        'http_requests_total{route="/text",status="418"} 1',
        'http_requests_total{route="/throws",status="500"} 1',
        'http_requests_total{route="unmatched",status="404"} 1',
      ].sort()
    )
  })

  test('the public app does not serve /metrics', async () => {
    expect((await send('/metrics', {})).status).toBe(404)
    expect((await send('/metrics', { method: 'HEAD' })).status).toBe(404)
  })

  test('a scrape never counts the store: the gauge is refreshed off the scrape path, one count at a time', async () => {
    let counts = 0
    const counted = createServerMetrics(async () => (await Bun.sleep(20), ++counts * 100))
    for (let i = 0; i < 5; i++) expect(counted.render()).toContain('sessions_stored NaN')
    expect(counts).toBe(0)
    await Promise.all([counted.refreshStored(), counted.refreshStored()])
    expect(counts).toBe(1)
    expect(counted.render()).toContain('sessions_stored 100')
    let quick = 0
    const stop = createServerMetrics(async () => ++quick).watchStored(30)
    await Bun.sleep(100)
    stop()
    expect(quick).toBeGreaterThanOrEqual(3)
  })

  test('a count that takes long waits a hundred times its duration before the next: counting holds the store at most 1 % of the time', async () => {
    // A Redis count walks the whole keyspace (SCAN visits foreign keys too): seconds on a large one.
    let counts = 0
    const stop = createServerMetrics(async () => (await Bun.sleep(40), ++counts)).watchStored(30)
    await Bun.sleep(600)
    stop()
    expect(counts).toBe(1)
  })

  test('pruned records are counted', async () => {
    const metrics = createServerMetrics(async () => 0)
    const now = 1_700_000_000_000
    const pruning = memoryStore({ pruneIntervalMs: 20, now: () => now + 5000, onPruned: metrics.onPruned })
    for (let i = 0; i < 3; i++) {
      await pruning.create(`k${i}`, { data: {}, createdAt: now, lastSeenAt: now, expiresAt: now + 1, renewedAt: now }, 100)
    }
    await Bun.sleep(100)
    expect(metrics.render()).toContain('sessions_pruned_total 3')
    await pruning.close()
  })
})

describe('content negotiation on GET /', () => {
  test('Accept: application/json answers {"views": N}; browsers and curl keep the text', async () => {
    const c = client(send)
    const json = await c.request('/', { headers: { accept: 'application/json' } })
    expect(json.headers.get('content-type')).toStartWith('application/json')
    expect(await json.json()).toEqual({ views: 1 })
    expect(await (await c.request('/', { headers: { accept: 'application/json' } })).json()).toEqual({ views: 2 })
    const browser = await c.request('/', { headers: { accept: 'text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8' } })
    expect(await browser.text()).toBe('You visited this page 3 times')
    const curl = await c.request('/', { headers: { accept: '*/*' } })
    expect(curl.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(await curl.text()).toBe('You visited this page 4 times')
  })
})

describe('logs', () => {
  test('json lines carry time, level, message and fields; levels below the threshold are dropped', () => {
    const lines: string[] = []
    const log = createLogger({ format: 'json', level: 'info', write: (l) => lines.push(l), now: () => new Date(0) })
    log.debug('hidden')
    log.info('listening', { port: 3000 })
    log.error('boom')
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      { time: '1970-01-01T00:00:00.000Z', level: 'info', msg: 'listening', port: 3000 },
      { time: '1970-01-01T00:00:00.000Z', level: 'error', msg: 'boom' },
    ])
  })

  test('pretty lines are one line each with key=value fields', () => {
    const lines: string[] = []
    const log = createLogger({ format: 'pretty', level: 'debug', write: (l) => lines.push(l), now: () => new Date(0) })
    log.debug('request', { path: '/', session: undefined })
    log.warn('session flood', { address: '192.0.2.1' })
    expect(lines).toEqual(['1970-01-01T00:00:00.000Z debug request path=/', '1970-01-01T00:00:00.000Z warn session flood address=192.0.2.1'])
  })

  test('pretty lines escape request values: a value never forges a field or a line', () => {
    const lines: string[] = []
    const log = createLogger({ format: 'pretty', level: 'info', write: (l) => lines.push(l), now: () => new Date(0) })
    log.info('session created', { address: '1.1.1.1 level=error msg=HACKED', session: 'abc', v6: '2001:db8::1' })
    log.info('session created', { address: 'a"b\nc', count: 3 })
    log.warn('GET /x\n1970-01-01T00:00:00.000Z error forged failed')
    expect(lines).toEqual([
      '1970-01-01T00:00:00.000Z info session created address="1.1.1.1 level=error msg=HACKED" session=abc v6=2001:db8::1',
      '1970-01-01T00:00:00.000Z info session created address="a\\"b\\nc" count=3',
      '1970-01-01T00:00:00.000Z warn GET /x\\n1970-01-01T00:00:00.000Z error forged failed',
    ])
  })
})
