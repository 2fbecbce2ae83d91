/**
 * Exact counts under parallel requests, across processes, SIGKILL and SIGTERM (issue 3).
 * `STRESS=1 bun test tests/concurrency.test.ts` (`bun run test:stress`) runs longer, with more clients.
 */
import { beforeAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import { createApp } from '../src/app'
import { sqliteStore, storeKey } from 'elysia-server-session'
import { SECRET, buildBinary, client, idOf, startServer, tempDir, type Server } from './helpers'

const STRESS = Bun.env.STRESS === '1'
const PARALLEL = STRESS ? 1000 : 200
const CLIENTS = STRESS ? 64 : 16
const LOAD_MS = STRESS ? 10_000 : 1_000
const dir = tempDir('concurrency-')
let binary = ''
beforeAll(async () => {
  binary = await buildBinary()
}, 120_000)

const countOf = (text: string) =>
  text === 'Welcome to this page for the first time!' ? 1 : Number(/^You visited this page (\d+) times$/.exec(text)?.[1])

/** Fires `n` parallel GET / with one cookie, spread over `bases`; returns the counts they showed. */
async function parallelVisits(bases: string[], cookie: string, n: number): Promise<number[]> {
  const responses = await Promise.all(
    Array.from({ length: n }, (_, i) => fetch(bases[i % bases.length] + '/', { headers: { cookie } }))
  )
  for (const response of responses) expect(response.status).toBe(200)
  return Promise.all(responses.map(async (r) => countOf(await r.text())))
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

function storedViews(path: string): Map<string, number> {
  const db = new Database(path, { readonly: true })
  const rows = db.query("SELECT key, json_extract(data, '$.views') AS views FROM sessions").all() as { key: string; views: number }[]
  db.close()
  return new Map(rows.map((row) => [row.key, row.views]))
}

function integrity(path: string): string {
  const db = new Database(path)
  const { integrity_check } = db.query('PRAGMA integrity_check').get() as { integrity_check: string }
  db.close()
  return integrity_check
}

describe('parallel requests on one session', () => {
  test(`in one process: ${PARALLEL} parallel visits raise the count by exactly ${PARALLEL}`, async () => {
    const store = sqliteStore({ path: join(dir, 'inprocess.db'), pruneIntervalMs: 0 })
    const app = createApp({ store, secrets: [SECRET] }).listen({ port: 0, hostname: '127.0.0.1' })
    const base = `http://127.0.0.1:${app.server!.port}`
    const c = client((path, init) => fetch(base + path, init))
    await c.request('/')
    const counts = await parallelVisits([base], c.cookie!, PARALLEL)
    expect(counts.toSorted((a, b) => a - b)).toEqual(range(2, PARALLEL + 1))
    expect(await (await c.request('/')).text()).toBe(`You visited this page ${PARALLEL + 2} times`)
    await app.stop()
    await store.close()
  })

  test('two compiled binaries on one SESSION_DB file: exact and distinct', async () => {
    const env = { SESSION_DB: join(dir, 'shared.db'), SESSION_SECRET: SECRET }
    const servers = [await startServer([binary], { cwd: dir, env }), await startServer([binary], { cwd: dir, env })]
    const bases = servers.map((s) => s.base)
    const c = client((path, init) => fetch(bases[0] + path, init))
    await c.request('/')
    const counts = await parallelVisits(bases, c.cookie!, PARALLEL)
    expect(counts.toSorted((a, b) => a - b)).toEqual(range(2, PARALLEL + 1))
    // Alternating sequential visits see no gap either.
    for (let i = 0; i < 10; i++) {
      const response = await fetch(bases[i % 2] + '/', { headers: { cookie: c.cookie! } })
      expect(countOf(await response.text())).toBe(PARALLEL + 2 + i)
    }
    for (const server of servers) server.proc.kill('SIGTERM')
    for (const server of servers) expect(await server.proc.exited).toBe(0)
  }, 60_000)
})

/** `CLIENTS` visitors, each looping sequential visits until `stop()`; records the last count acknowledged. */
function load(base: string) {
  let running = true
  let visits = 0
  const started = performance.now()
  const acknowledged = new Map<string, number>()
  const failures: string[] = []
  const loops = Array.from({ length: CLIENTS }, async () => {
    const c = client((path, init) => fetch(base + path, init))
    while (running) {
      try {
        const response = await c.request('/')
        const count = countOf(await response.text())
        if (response.status !== 200) failures.push(`status ${response.status}`)
        else {
          acknowledged.set(storeKey(idOf(c.cookie!)), count)
          visits++
        }
      } catch (error) {
        if (running) failures.push(`${(error as { code?: string }).code ?? error}`)
      }
    }
  })
  return {
    acknowledged,
    failures,
    async stop() {
      running = false
      await Promise.all(loops)
    },
    /** One line of figures for the record (the stress run's note quotes it). */
    summary: () => `${visits} acknowledged visits by ${CLIENTS} clients in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  }
}

describe('crashes and shutdown under load', () => {
  test('SIGKILL under load loses no acknowledged increment; the database checks ok', async () => {
    const path = join(dir, 'killed.db')
    const server = await startServer([binary], { cwd: dir, env: { SESSION_DB: path, SESSION_SECRET: SECRET } })
    const traffic = load(server.base)
    await Bun.sleep(LOAD_MS)
    server.proc.kill('SIGKILL')
    await server.proc.exited
    await traffic.stop()
    console.log(`SIGKILL under load: ${traffic.summary()}`)
    // Connection errors after the kill are expected; an error status before it is not.
    expect(traffic.failures.filter((f) => f.startsWith('status'))).toEqual([])
    expect(traffic.acknowledged.size).toBe(CLIENTS)
    expect(integrity(path)).toBe('ok')
    const stored = storedViews(path)
    for (const [key, count] of traffic.acknowledged) {
      // Committed but unacknowledged (the reply died with the process) is allowed; lost is not.
      expect(stored.get(key)! - count).toBeOneOf([0, 1])
    }
  }, 60_000)

  test('SIGTERM under load: accepted requests complete, none is reset, exit 0, nothing lost', async () => {
    const path = join(dir, 'terminated.db')
    const server: Server = await startServer([binary], { cwd: dir, env: { SESSION_DB: path, SESSION_SECRET: SECRET } })
    const traffic = load(server.base)
    await Bun.sleep(LOAD_MS)
    server.proc.kill('SIGTERM')
    expect(await server.proc.exited).toBe(0)
    await traffic.stop()
    console.log(`SIGTERM under load: ${traffic.summary()}, ${traffic.failures.length} refused after the listener closed`)
    // After the listener closes, new connections are refused: those requests were never accepted.
    expect(traffic.failures.filter((f) => f !== 'ConnectionRefused' && f !== 'ECONNREFUSED')).toEqual([])
    expect(integrity(path)).toBe('ok')
    const stored = storedViews(path)
    for (const [key, count] of traffic.acknowledged) expect(stored.get(key)).toBe(count)
  }, 60_000)
})
