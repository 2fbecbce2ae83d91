/**
 * Sessions in PostgreSQL, end to end with the compiled binary: two instances on one database count
 * exactly, SIGKILL under load loses no acknowledged increment, a PostgreSQL stopped under load (a
 * server of the test's own, so the shared one is left alone) is a fast 503 that heals by itself
 * with nothing acknowledged lost, and the admin commands work on it. Figures are printed for the
 * README's "Sessions in PostgreSQL" section.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { SQL } from 'bun'
import { storeKey } from 'elysia-server-session'
import { SECRET, buildBinary, client, idOf, startServer, tempDir, type Server } from './helpers'
import { createTestDatabase, postgresReady, startOwnPostgres } from '../packages/elysia-server-session/tests/postgres-helpers'

const ready = await postgresReady('postgres binary tests')
const ownServers = ready && (await postgresReady('postgres outage tests', true))
const N = 200
const CLIENTS = 16
const dir = tempDir('postgres-')
// Databases are made (and their drops registered) at the top level, before any test runs.
const [sharedUrl, killedUrl] = ready ? [await createTestDatabase(), await createTestDatabase()] : ['', '']
let binary = ''
const figures: string[] = []
beforeAll(async () => {
  binary = await buildBinary()
}, 120_000)
afterAll(() => {
  if (figures.length > 0) console.log(`\npostgres figures:\n  ${figures.join('\n  ')}\n`)
})

const countOf = (text: string) =>
  text === 'Welcome to this page for the first time!' ? 1 : Number(/^You visited this page (\d+) times$/.exec(text)?.[1])
const env = (url: string) => ({ SESSION_STORE: 'postgres', DATABASE_URL: url, SESSION_SECRET: SECRET })

/** Stored views by store key, read with SQL. */
async function storedViews(url: string): Promise<Map<string, number>> {
  const sql = new SQL(url, { max: 1 })
  const rows: { key: string; views: number }[] = await sql`SELECT key, (data ->> 'views')::int AS views FROM sessions WHERE moved_to IS NULL`
  await sql.close()
  return new Map(rows.map((row) => [row.key, row.views]))
}

/** `CLIENTS` visitors looping sequential visits until `stop()`; the last count each had acknowledged. */
function load(base: string) {
  let running = true
  const acknowledged = new Map<string, number>()
  const statuses: number[] = []
  const loops = Array.from({ length: CLIENTS }, async () => {
    const c = client((path, init) => fetch(base + path, init))
    while (running) {
      try {
        const response = await c.request('/')
        const text = await response.text()
        statuses.push(response.status)
        if (response.status === 200) acknowledged.set(storeKey(idOf(c.cookie!)), countOf(text))
        else await Bun.sleep(5)
      } catch {
        await Bun.sleep(5) // the server was killed: connection errors are expected
      }
    }
  })
  return {
    acknowledged,
    statuses,
    async stop() {
      running = false
      await Promise.all(loops)
    },
  }
}

describe.skipIf(!ready)('two compiled instances on one PostgreSQL database', () => {
  const url = sharedUrl
  let servers: Server[] = []
  beforeAll(async () => {
    servers = await Promise.all([startServer([binary], { cwd: dir, env: env(url) }), startServer([binary], { cwd: dir, env: env(url) })])
  }, 60_000)
  afterAll(() => {
    for (const { proc } of servers) proc.kill('SIGKILL')
  })

  test('without SESSION_SECRET, SESSION_STORE=postgres is a configuration error (exit 2)', () => {
    const result = Bun.spawnSync([binary], { env: { PORT: '0', SESSION_STORE: 'postgres', DATABASE_URL: url }, cwd: dir, stderr: 'pipe' })
    expect(result.exitCode).toBe(2)
    expect(result.stderr.toString()).toContain('SESSION_SECRET is required with SESSION_STORE=postgres: all instances must share it')
  })

  test(`a client alternating between the instances counts 1..${N} without a gap, and ${N} parallel requests count exactly`, async () => {
    let i = 0
    const c = client((path, init) => fetch(servers[i++ % 2]!.base + path, init))
    let started = performance.now()
    for (let views = 1; views <= N; views++) {
      const response = await c.request('/')
      expect([response.status, countOf(await response.text())]).toEqual([200, views])
    }
    figures.push(`${N} sequential requests alternating between 2 instances: ${(performance.now() - started).toFixed(0)} ms`)
    started = performance.now()
    const responses = await Promise.all(
      Array.from({ length: N }, (_, j) => fetch(servers[j % 2]!.base + '/', { headers: { cookie: c.cookie! } }))
    )
    const counts = await Promise.all(responses.map(async (r) => (expect(r.status).toBe(200), countOf(await r.text()))))
    figures.push(`${N} parallel requests on one session over both instances: ${(performance.now() - started).toFixed(0)} ms`)
    expect(counts.toSorted((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, j) => N + 1 + j))
    expect((await storedViews(url)).get(storeKey(idOf(c.cookie!)))).toBe(2 * N)
  }, 60_000)

  test('sessions stats, prune and revoke work on it; the start line masks the password', async () => {
    const admin = (...args: string[]) => {
      const result = Bun.spawnSync([binary, 'sessions', ...args], { cwd: dir, env: { PATH: '/usr/bin:/bin', ...env(url) }, stdout: 'pipe', stderr: 'pipe' })
      return { code: result.exitCode, out: result.stdout.toString().trim() }
    }
    const live = (await storedViews(url)).size
    expect(admin('stats')).toMatchObject({ code: 0, out: expect.stringMatching(new RegExp(`^${live} live sessions \\(0 remembered\\), 0 expired not yet pruned, \\d+ bytes stored$`)) })
    expect(admin('prune')).toEqual({ code: 0, out: 'pruned 0 expired sessions' })
    expect(admin('revoke', '--subject', 'nobody')).toEqual({ code: 0, out: 'revoked 0 sessions' })
    expect(admin('revoke', '--all')).toEqual({ code: 0, out: `revoked ${live} sessions` })
    expect(admin('stats').out).toStartWith('0 live sessions')
    for (const { proc } of servers) proc.kill('SIGTERM')
    expect(await Promise.all(servers.map(({ proc }) => proc.exited))).toEqual([0, 0])
    const log = await new Response(servers[0]!.proc.stderr).text()
    expect(log).toContain(`(store postgres, ${url} table public.sessions)`)
    const masked = Bun.spawnSync([binary, 'sessions', 'stats'], { cwd: dir, env: { PATH: '/usr/bin:/bin', ...env('postgres://app:secret-pw@127.0.0.1:1/x') }, stderr: 'pipe' })
    expect(masked.exitCode).toBe(1)
    expect(masked.stderr.toString()).not.toContain('secret-pw')
  }, 30_000)
})

describe.skipIf(!ready)('crashes under load', () => {
  test('SIGKILL under load loses no acknowledged increment', async () => {
    const url = killedUrl
    const server = await startServer([binary], { cwd: dir, env: env(url) })
    const traffic = load(server.base)
    await Bun.sleep(1000)
    server.proc.kill('SIGKILL')
    await server.proc.exited
    await traffic.stop()
    expect(traffic.statuses.filter((s) => s !== 200)).toEqual([])
    expect(traffic.acknowledged.size).toBe(CLIENTS)
    const stored = await storedViews(url)
    for (const [key, count] of traffic.acknowledged) expect(stored.get(key)! - count).toBeOneOf([0, 1])
    figures.push(`SIGKILL under load: ${traffic.statuses.length} acknowledged visits by ${CLIENTS} clients in 1 s, none lost`)
  }, 60_000)
})

describe.skipIf(!ownServers)('PostgreSQL stopped and restarted under load', () => {
  test('fast 503s with Retry-After and /readyz 503 while it is down; back: served again, nothing acknowledged lost', async () => {
    const postgres = await startOwnPostgres()
    const server = await startServer([binary], { cwd: dir, env: env(postgres.url) })
    try {
      const traffic = load(server.base)
      await Bun.sleep(500)
      await postgres.stop()
      const down: number[] = []
      const c = client((path, init) => fetch(server.base + path, init))
      for (let i = 0; i < 10; i++) {
        const started = performance.now()
        const response = await c.request('/')
        down.push(performance.now() - started)
        expect(response.status).toBe(503)
        expect(response.headers.get('retry-after')).toBe('1')
        expect(await response.text()).toContain('Session storage is unavailable; nothing was saved')
      }
      expect((await fetch(server.base + '/readyz')).status).toBe(503)
      expect(Math.max(...down)).toBeLessThan(600)
      const restarted = performance.now()
      await postgres.start()
      const up = performance.now()
      // The first request after PostgreSQL is back succeeds: the pool reconnects on demand.
      const first = await c.request('/')
      expect([first.status, await first.text()]).toEqual([200, 'Welcome to this page for the first time!'])
      const readyAfter = performance.now() - up
      expect((await fetch(server.base + '/readyz')).status).toBe(200)
      await Bun.sleep(500)
      await traffic.stop()
      const sorted = down.toSorted((a, b) => a - b)
      figures.push(`PostgreSQL down: GET / answered 503 in ${sorted[0]!.toFixed(1)}-${sorted.at(-1)!.toFixed(1)} ms; ` +
        `restarted in ${(up - restarted).toFixed(0)} ms, the first GET / after it served in ${readyAfter.toFixed(0)} ms`)
      const statuses = new Set(traffic.statuses)
      expect([...statuses].sort()).toEqual([200, 503])
      expect(traffic.statuses.at(-1)).toBe(200)
      const stored = await storedViews(postgres.url)
      for (const [key, count] of traffic.acknowledged) expect(stored.get(key)! - count).toBeOneOf([0, 1])
    } finally {
      server.proc.kill('SIGKILL')
      await postgres.stop()
    }
  }, 90_000)
})
