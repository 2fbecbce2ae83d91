/**
 * `bun bench/inprocess.ts`: CPU time per request in-process, no sockets and no wrk. Each server's
 * app answers `app.handle(request)` in waves of 64 concurrent requests; a round is R requests, and
 * its CPU time (`process.cpuUsage()`, every thread of the process) / R is its µs per request. The
 * median of the rounds is reported, after a warm-up round. Servers: bare Elysia, the two floor
 * references (bench/peers/floor-*.ts), ours on the memory store and on SQLite (the app's
 * `createApp` with the library's defaults, as the binary's defaults are).
 *
 * Deterministic enough to compare commits on a noisy machine, and small enough to profile:
 * `bun --cpu-prof` and valgrind's callgrind recipes are in bench/README.md.
 *
 * Settings (environment):
 *   INPROC_ROUNDS=5          measured rounds per server and scenario
 *   INPROC_REQUESTS=20000    requests per round
 *   INPROC_CONCURRENCY=64    requests in flight at once
 *   INPROC_SESSIONS=10000    sessions created before the returning-visitors scenario
 *   INPROC_WARMUP=5000       requests of the unmeasured warm-up round
 *   INPROC_SERVERS=a,b       only these (elysia-bare, floor-memory, floor-sqlite, ours-memory, ours-sqlite)
 *   INPROC_SCENARIOS=a,b     only these (returning, new, hot)
 *   INPROC_CACHE_ROWS=n      ours-sqlite's row cache (`cacheSize`; the library's default when unset, 0 turns it off)
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { memoryStore, sqliteStore } from 'elysia-server-session'
import { createApp } from '../src/app'
import { bareApp } from './peers/elysia-bare'
import { floorApp } from './peers/floor-common'
import { sqliteAppender } from './peers/floor-sqlite'

const env = process.env
const num = (name: string, fallback: number) => (env[name] ? Number(env[name]) : fallback)
const CFG = {
  rounds: num('INPROC_ROUNDS', 5),
  requests: num('INPROC_REQUESTS', 20_000),
  concurrency: num('INPROC_CONCURRENCY', 64),
  sessions: num('INPROC_SESSIONS', 10_000),
  warmup: num('INPROC_WARMUP', 5_000),
  cacheRows: env.INPROC_CACHE_ROWS ? Number(env.INPROC_CACHE_ROWS) : undefined,
}
const SECRET = 'bench-secret-0123456789-bench-secret-0123456789-bench'
/** The binary's logger at its default level: no per-request debug line (its info lines are left out). */
const log = { warn: console.warn, error: console.error }
const URL = 'http://localhost/'

type App = { handle(request: Request): Promise<Response> }
type Server = { key: string; label: string; synthetic?: boolean; open(dir: string): { app: App; close(): unknown } }
const SERVERS: Server[] = [
  { key: 'elysia-bare', label: 'bare Elysia', synthetic: true, open: () => ({ app: bareApp(), close() {} }) },
  { key: 'floor-memory', label: 'floor, memory', open: () => ({ app: floorApp({ secret: SECRET }), close() {} }) },
  {
    key: 'floor-sqlite',
    label: 'floor, bun:sqlite',
    open(dir) {
      const store = sqliteAppender(join(dir, 'floor.db'))
      return { app: floorApp({ secret: SECRET, counts: store.counts, append: store.append }), close: store.close }
    },
  },
  {
    key: 'ours-memory',
    label: 'ours (memory)',
    open() {
      const store = memoryStore()
      return { app: createApp({ store, secrets: [SECRET], log }), close: () => store.close() }
    },
  },
  {
    key: 'ours-sqlite',
    label: 'ours (SQLite)',
    open(dir) {
      const store = sqliteStore({ path: join(dir, 'ours.db'), ...(CFG.cacheRows !== undefined && { cacheSize: CFG.cacheRows }) })
      return { app: createApp({ store, secrets: [SECRET], log }), close: () => store.close() }
    },
  },
]
type Scenario = 'returning' | 'new' | 'hot'
const SCENARIOS: Scenario[] = ['returning', 'new', 'hot']

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const cpuMicros = () => {
  const { user, system } = process.cpuUsage()
  return user + system
}

/** One request; throws on anything but a 200 (a figure made of errors proves nothing). */
async function visit(app: App, cookie: string | undefined): Promise<Response> {
  const response = await app.handle(new Request(URL, cookie ? { headers: { cookie } } : undefined))
  await response.text()
  if (response.status !== 200) throw new Error(`HTTP ${response.status}`)
  return response
}

/** `count` new sessions' cookies, made through the app itself, `concurrency` at a time. */
async function createCookies(app: App, count: number): Promise<string[]> {
  const cookies: string[] = []
  while (cookies.length < count) {
    const wave = Math.min(CFG.concurrency, count - cookies.length)
    const responses = await Promise.all(Array.from({ length: wave }, () => visit(app, undefined)))
    for (const response of responses) cookies.push(response.headers.getSetCookie()[0]!.split(';')[0]!)
  }
  return cookies
}

/** Random cookies of our shape, for the server that serves no sessions. */
const syntheticCookies = (count: number) =>
  Array.from({ length: count }, () => {
    const random = crypto.getRandomValues(new Uint8Array(64))
    return `id=${Buffer.from(random.subarray(0, 32)).toString('base64url')}.${Buffer.from(random.subarray(32)).toString('base64').slice(0, 43)}`
  })

/** The tutorial's answers: a first visit welcomes, the second counts 2. */
async function checkCounts(app: App) {
  const first = await visit(app, undefined)
  const cookie = first.headers.getSetCookie()[0]?.split(';')[0]
  const second = await app.handle(new Request(URL, { headers: { cookie: cookie ?? '' } }))
  const text = await second.text()
  if (!cookie || !text.includes('You visited this page 2 times')) throw new Error(`second visit answered ${JSON.stringify(text)}`)
}

/** @returns µs of CPU and of wall time per request over `requests` requests. */
async function round(app: App, cookies: string[] | undefined, requests: number) {
  const pick = () => (cookies ? cookies[Math.floor(Math.random() * cookies.length)] : undefined)
  // Every round starts from a collected heap: otherwise a round pays for the garbage of the one
  // before, and rounds of one server spread by ±30 % instead of ±5 %.
  Bun.gc(true)
  const cpu0 = cpuMicros()
  const wall0 = performance.now()
  for (let done = 0; done < requests; done += CFG.concurrency) {
    const wave = Math.min(CFG.concurrency, requests - done)
    await Promise.all(Array.from({ length: wave }, () => visit(app, pick())))
  }
  return { cpu: (cpuMicros() - cpu0) / requests, wall: ((performance.now() - wall0) * 1000) / requests }
}

type Result = { server: string; scenario: Scenario; cpuUs: number; cpuUsRounds: number[]; wallUs: number }

async function measure(server: Server, scenario: Scenario, dir: string): Promise<Result> {
  const { app, close } = server.open(dir)
  try {
    if (!server.synthetic) await checkCounts(app)
    const cookies =
      scenario === 'new'
        ? undefined
        : server.synthetic
          ? syntheticCookies(scenario === 'hot' ? 1 : CFG.sessions)
          : await createCookies(app, scenario === 'hot' ? 1 : CFG.sessions)
    if (CFG.warmup > 0) await round(app, cookies, CFG.warmup)
    const rounds: { cpu: number; wall: number }[] = []
    for (let i = 0; i < CFG.rounds; i++) rounds.push(await round(app, cookies, CFG.requests))
    if (!server.synthetic) await checkCounts(app)
    const cpuUsRounds = rounds.map((r) => r.cpu)
    return { server: server.key, scenario, cpuUs: median(cpuUsRounds), cpuUsRounds, wallUs: median(rounds.map((r) => r.wall)) }
  } finally {
    await close()
  }
}

const only = (name: string) => env[name]?.split(',').map((s) => s.trim())
const servers = SERVERS.filter((s) => !only('INPROC_SERVERS') || only('INPROC_SERVERS')!.includes(s.key))
const scenarios = SCENARIOS.filter((s) => !only('INPROC_SCENARIOS') || only('INPROC_SCENARIOS')!.includes(s))
const dir = mkdtempSync(join(tmpdir(), 'inprocess-bench-'))
const results: Result[] = []
try {
  console.log(
    `bun ${Bun.version}; ${CFG.rounds} round(s) of ${CFG.requests.toLocaleString('en')} requests, ${CFG.concurrency} concurrent, ` +
      `${CFG.sessions.toLocaleString('en')} sessions for returning visitors; µs of CPU per request, median of the rounds\n`
  )
  console.log('| scenario | server | CPU µs / request | rounds | over bare µs | ≈ × floor req/s | wall µs / request |')
  console.log('| --- | --- | ---: | --- | ---: | ---: | ---: |')
  for (const scenario of scenarios) {
    for (const server of servers) {
      const result = await measure(server, scenario, dir)
      results.push(result)
      const bare = results.find((r) => r.scenario === scenario && r.server === 'elysia-bare')
      const floorKey = server.key.endsWith('memory') ? 'floor-memory' : 'floor-sqlite'
      const floor = results.find((r) => r.scenario === scenario && r.server === floorKey)
      console.log(
        `| ${scenario} | ${server.label} | ${result.cpuUs.toFixed(1)} | ${result.cpuUsRounds.map((v) => v.toFixed(1)).join(', ')} | ` +
          `${bare && server.key !== 'elysia-bare' ? (result.cpuUs - bare.cpuUs).toFixed(1) : '–'} | ` +
          `${floor && server.key.startsWith('ours-') ? `${(floor.cpuUs / result.cpuUs).toFixed(2)}× (${floorKey})` : '–'} | ${result.wallUs.toFixed(1)} |`
      )
    }
  }
  console.log(`\nINPROC_JSON ${JSON.stringify({ bun: Bun.version, config: CFG, results })}`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
