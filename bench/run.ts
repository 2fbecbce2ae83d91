/**
 * `bun run bench` (issue 5): our compiled server against bare Elysia and the usual Node session
 * servers, under wrk, one server core and one load core. Installs what it needs (wrk from Debian,
 * the peers with npm ci in bench/, our binary with `bun run build`), writes
 * bench/results/latest.{md,svg,json}. Every child process is killed on the way out, failure or not.
 *
 * Settings (environment):
 *   BENCH_ROUNDS=3          measured rounds per server and scenario (medians are reported)
 *   BENCH_SECONDS=5         seconds per round
 *   BENCH_WARMUP=2          seconds of warm-up load before the rounds (not measured)
 *   BENCH_CONNECTIONS=64    wrk connections (one wrk thread)
 *   BENCH_SESSIONS=10000    sessions created before the returning-visitors scenario
 *   BENCH_BIG_SESSIONS=1000000  sessions for the big-store scenario (ours and bare only)
 *   BENCH_QUICK=1           smoke check: 1 round of 2 s, 1 s warm-up, 2,000 / 20,000 sessions
 *   BENCH_SERVERS=a,b       only these servers (keys: see SERVERS below)
 *   BENCH_SCENARIOS=a,b     only these scenarios (returning,new,hot,big)
 *   BENCH_BINARY=path       benchmark this binary instead of dist/session-counter
 *   BENCH_BUILD=1           rebuild dist/session-counter even when it exists
 *   BENCH_OURS_ENV=K=V,K=V  extra environment for our server (none by default: its defaults)
 *   BENCH_QUIET_WAIT=30     before each server x scenario, wait up to this many seconds for the
 *                           machine to be quiet (< 0.15 core used by others); 0 in quick mode
 *   BENCH_OUT=dir           write latest.{md,svg,json} there instead of bench/results
 *   BENCH_STRICT=1          exit 1 when a target fails
 *   BENCH_SERVER_CPU=0 BENCH_LOAD_CPU=1   the cores for `taskset -c`
 *   BENCH_POSTGRES_URL=url  the PostgreSQL server ours (PostgreSQL) makes its database on
 */
import type { Subprocess } from 'bun'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, hostname, release, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { evaluateTargets, renderMarkdown, renderSvg, type Results, type Row, type ServerInfo } from './lib/report'
import { benchCluster, stopBenchCluster } from './redis-cluster'

const BENCH = import.meta.dir
const ROOT = resolve(BENCH, '..')
const RESULTS = resolve(process.env.BENCH_OUT ?? join(BENCH, 'results'))
const env = process.env
const QUICK = env.BENCH_QUICK === '1'
const num = (name: string, fallback: number) => (env[name] ? Number(env[name]) : fallback)
const CFG = {
  rounds: num('BENCH_ROUNDS', QUICK ? 1 : 3),
  seconds: num('BENCH_SECONDS', QUICK ? 2 : 5),
  warmup: num('BENCH_WARMUP', QUICK ? 1 : 2),
  connections: num('BENCH_CONNECTIONS', 64),
  sessions: num('BENCH_SESSIONS', QUICK ? 2_000 : 10_000),
  bigSessions: num('BENCH_BIG_SESSIONS', QUICK ? 20_000 : 1_000_000),
  createConcurrency: num('BENCH_CREATE_CONCURRENCY', 64),
  serverCpu: env.BENCH_SERVER_CPU ?? '0',
  loadCpu: env.BENCH_LOAD_CPU ?? '1',
  startupRuns: num('BENCH_STARTUP_RUNS', QUICK ? 3 : 5),
  quietWait: num('BENCH_QUIET_WAIT', QUICK ? 0 : 30),
}
const SECRET = 'bench-secret-0123456789-bench-secret-0123456789-bench'
const BINARY = resolve(env.BENCH_BINARY ?? join(ROOT, 'dist', 'session-counter'))
const REDIS_URL = 'redis://127.0.0.1:6379'
/**
 * Ours runs with its default configuration; BENCH_OURS_ENV adds to it (the report says what). All
 * the load comes from one address: the default flood guard only logs that, it refuses nobody.
 */
const OURS_ENV: Record<string, string> = Object.fromEntries(
  (env.BENCH_OURS_ENV ?? '')
    .split(',')
    .filter((pair) => pair.includes('='))
    .map((pair) => [pair.slice(0, pair.indexOf('=')).trim(), pair.slice(pair.indexOf('=') + 1).trim()])
)
const REDIS_PREFIX = `bench:${process.pid}:${Date.now()}:`
/** ours (PostgreSQL) runs on a database of its own on the local server, made at start and dropped at the end. */
const PG_ADMIN_URL = env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const PG_DATABASE = `session_bench_${process.pid}`
const PG_URL = Object.assign(new URL(PG_ADMIN_URL), { pathname: `/${PG_DATABASE}` }).toString()
let pgTables = 0

// ---------------------------------------------------------------- child processes, always killed
const children = new Set<Subprocess>()
function killAll() {
  for (const child of children) {
    try {
      child.kill('SIGKILL')
    } catch {}
  }
  children.clear()
}
process.on('exit', killAll)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    console.error(`\nbench: ${signal}, killing children`)
    killAll()
    process.exit(130)
  })
}
process.on('uncaughtException', (error) => {
  console.error('bench: failed:', error)
  killAll()
  process.exit(1)
})
process.on('unhandledRejection', (error) => {
  console.error('bench: failed:', error)
  killAll()
  process.exit(1)
})

function spawn(cmd: string[], options: Parameters<typeof Bun.spawn>[1] = {}): Subprocess {
  const child = Bun.spawn(cmd, { stdin: 'ignore', ...options })
  children.add(child)
  child.exited.then(() => children.delete(child))
  return child
}

/** Runs a command to completion within `timeoutMs`; its output is captured. */
async function run(cmd: string[], opts: { cwd?: string; timeoutMs?: number; inherit?: boolean } = {}) {
  const child = spawn(cmd, {
    cwd: opts.cwd,
    stdout: opts.inherit ? 'inherit' : 'pipe',
    stderr: opts.inherit ? 'inherit' : 'pipe',
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000)
  const [stdout, stderr, code] = await Promise.all([
    opts.inherit ? '' : new Response(child.stdout as ReadableStream).text(),
    opts.inherit ? '' : new Response(child.stderr as ReadableStream).text(),
    child.exited,
  ])
  clearTimeout(timer)
  return { code, stdout, stderr, cpuMicros: Number(child.resourceUsage()?.cpuTime.total ?? 0) }
}

const log = (...args: unknown[]) => console.log(...args)
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

// ---------------------------------------------------------------- prerequisites
async function ensureWrk() {
  if (Bun.which('wrk')) return
  log('bench: wrk missing, installing it from Debian (apt-get install -y wrk)')
  let result = await run(['apt-get', 'install', '-y', 'wrk'], { inherit: true })
  if (result.code !== 0) {
    await run(['apt-get', 'update'], { inherit: true })
    result = await run(['apt-get', 'install', '-y', 'wrk'], { inherit: true })
  }
  if (result.code !== 0 || !Bun.which('wrk')) throw new Error('could not install wrk (apt-get install -y wrk)')
}

const PEER_PACKAGES = [
  'hono',
  'hono-sessions',
  '@hono/session',
  'express',
  'express-session',
  'better-sqlite3',
  'better-sqlite3-session-store',
  'fastify',
  '@fastify/cookie',
  '@fastify/session',
  'elysia',
]
async function ensurePeers() {
  const missing = PEER_PACKAGES.filter((name) => !existsSync(join(BENCH, 'node_modules', name, 'package.json')))
  if (missing.length) {
    const ci = existsSync(join(BENCH, 'package-lock.json'))
    log(`bench: installing the peers in bench/ (${ci ? 'npm ci' : 'npm install'}; better-sqlite3 may compile, ~2 min)`)
    const result = await run(['npm', ci ? 'ci' : 'install', '--no-audit', '--no-fund'], { cwd: BENCH, inherit: true })
    if (result.code !== 0) throw new Error('npm install in bench/ failed')
  }
  const probe = await run(['node', '-e', "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"], {
    cwd: BENCH,
  })
  if (probe.code !== 0) {
    log('bench: better-sqlite3 does not load under Node, rebuilding it')
    const result = await run(['npm', 'rebuild', 'better-sqlite3'], { cwd: BENCH, inherit: true })
    if (result.code !== 0) throw new Error('npm rebuild better-sqlite3 failed')
  }
}

async function ensureBinary() {
  if (env.BENCH_BINARY) {
    if (!existsSync(BINARY)) throw new Error(`BENCH_BINARY ${BINARY} does not exist`)
    return
  }
  if (existsSync(BINARY) && env.BENCH_BUILD !== '1') return
  log('bench: building our binary (bun run build)')
  const result = await run([process.execPath, 'run', 'build'], { cwd: ROOT, inherit: true })
  if (result.code !== 0 || !existsSync(BINARY)) throw new Error('bun run build failed')
}

async function redisAnswers(): Promise<boolean> {
  return new Promise((resolvePromise) => {
    let settled = false
    const done = (value: boolean) => {
      if (!settled) {
        settled = true
        resolvePromise(value)
      }
    }
    setTimeout(() => done(false), 500)
    Bun.connect({
      hostname: '127.0.0.1',
      port: 6379,
      socket: {
        open(socket) {
          socket.write('PING\r\n')
        },
        data(socket, data) {
          done(data.toString().startsWith('+PONG'))
          socket.end()
        },
        error() {
          done(false)
        },
        connectError() {
          done(false)
        },
      },
    }).catch(() => done(false))
  })
}

/** Creates or drops the benchmark's PostgreSQL database. @returns false when the server cannot. */
async function postgresDatabase(action: 'CREATE' | 'DROP'): Promise<boolean> {
  const { SQL } = await import('bun')
  const sql = new SQL(PG_ADMIN_URL, { max: 1, connectionTimeout: 2 })
  try {
    await sql.unsafe(action === 'CREATE' ? `CREATE DATABASE ${PG_DATABASE}` : `DROP DATABASE IF EXISTS ${PG_DATABASE} WITH (FORCE)`)
    return true
  } catch {
    return false
  } finally {
    await sql.close().catch(() => {})
  }
}

async function cleanRedis() {
  try {
    const { RedisClient } = await import('bun')
    const client = new RedisClient(REDIS_URL)
    let cursor = '0'
    let deleted = 0
    for (let i = 0; i < 10_000; i++) {
      const [next, keys] = (await client.send('SCAN', [cursor, 'MATCH', `${REDIS_PREFIX}*`, 'COUNT', '1000'])) as [
        string,
        string[],
      ]
      if (keys.length) deleted += Number(await client.send('DEL', keys))
      cursor = next
      if (cursor === '0') break
    }
    client.close()
    if (deleted) log(`bench: deleted ${deleted} Redis keys under ${REDIS_PREFIX}`)
  } catch (error) {
    log(`bench: could not clean Redis keys under ${REDIS_PREFIX}: ${error}`)
  }
}

// ---------------------------------------------------------------- servers
type Scenario = 'returning' | 'new' | 'hot' | 'big'
const ALL_SCENARIOS: Scenario[] = ['returning', 'new', 'hot', 'big']
const SCENARIO_LABEL: Record<Scenario, string> = {
  returning: 'returning visitors',
  new: 'new visitors',
  hot: 'one hot session',
  big: 'returning, big store',
}

type ServerDef = ServerInfo & {
  cmd: string[]
  env: (dir: string) => Record<string, string>
  scenarios: Scenario[]
  /** Serves no sessions: cookies are synthesised in our format instead of created. */
  synthetic?: boolean
  /** May fail to start (unsupported config): skipped with a note instead of an error. */
  optional?: boolean
}

const bun = process.execPath
let clusterSeeds = '' // set in main when the cluster server runs (bench/redis-cluster.ts)
const nodeEnv = (dir: string, file: string) => ({ SESSION_DB: join(dir, file), SESSION_SECRET: SECRET })
const SERVERS: ServerDef[] = [
  {
    key: 'ours-sqlite',
    label: 'ours (SQLite)',
    runtime: 'Bun (compiled)',
    cmd: [BINARY],
    env: (dir) => ({ ...OURS_ENV, SESSION_STORE: 'sqlite', SESSION_DB: join(dir, 'ours.db'), SESSION_SECRET: SECRET }),
    scenarios: ['returning', 'new', 'hot', 'big'],
  },
  {
    key: 'ours-memory',
    label: 'ours (memory)',
    runtime: 'Bun (compiled)',
    cmd: [BINARY],
    env: (dir) => ({ ...OURS_ENV, SESSION_STORE: 'memory', SESSION_DB: join(dir, 'ours-memory.db'), SESSION_SECRET: SECRET }),
    scenarios: ['returning', 'new', 'hot'],
  },
  {
    key: 'ours-redis',
    label: 'ours (Redis)',
    runtime: 'Bun (compiled)',
    cmd: [BINARY],
    env: (dir) => ({
      ...OURS_ENV,
      SESSION_STORE: 'redis',
      REDIS_URL,
      SESSION_REDIS_PREFIX: REDIS_PREFIX,
      SESSION_DB: join(dir, 'ours-redis.db'),
      SESSION_SECRET: SECRET,
    }),
    scenarios: ['returning', 'new', 'hot'],
    optional: true,
  },
  {
    key: 'ours-postgres',
    label: 'ours (PostgreSQL)',
    runtime: 'Bun (compiled)',
    cmd: [BINARY],
    env: (dir) => ({
      ...OURS_ENV,
      SESSION_STORE: 'postgres',
      DATABASE_URL: PG_URL,
      SESSION_PG_TABLE: `sessions_${pgTables++}`, // a fresh table per scenario
      SESSION_DB: join(dir, 'ours-postgres.db'),
      SESSION_SECRET: SECRET,
    }),
    scenarios: ['returning', 'new', 'hot'],
    optional: true,
  },
  {
    key: 'ours-redis-cluster',
    label: 'ours (Redis Cluster, 3 primaries + 3 replicas)',
    runtime: 'Bun (compiled)',
    cmd: [BINARY],
    env: (dir) => ({ ...OURS_ENV, SESSION_STORE: 'redis-cluster', REDIS_CLUSTER_NODES: clusterSeeds, SESSION_REDIS_PREFIX: REDIS_PREFIX, SESSION_DB: join(dir, 'ours-cluster.db'), SESSION_SECRET: SECRET }),
    scenarios: ['returning', 'new'],
    optional: true,
  },
  {
    key: 'elysia-bare',
    label: 'bare Elysia (ceiling)',
    runtime: 'Bun',
    cmd: [bun, join(BENCH, 'peers', 'elysia-bare.ts')],
    env: () => ({}),
    scenarios: ['returning', 'new', 'hot', 'big'],
    synthetic: true,
  },
  {
    key: 'floor-sqlite',
    label: 'floor, bun:sqlite (reference)',
    runtime: 'Bun',
    cmd: [bun, join(BENCH, 'peers', 'floor-sqlite.ts')],
    env: (dir) => nodeEnv(dir, 'floor.db'),
    scenarios: ['returning', 'new', 'hot'],
  },
  {
    key: 'floor-memory',
    label: 'floor, memory (reference)',
    runtime: 'Bun',
    cmd: [bun, join(BENCH, 'peers', 'floor-memory.ts')],
    env: () => ({ SESSION_SECRET: SECRET }),
    scenarios: ['returning', 'new', 'hot'],
  },
  {
    key: 'express-memory',
    label: 'express-session MemoryStore',
    runtime: 'Node',
    cmd: ['node', join(BENCH, 'peers', 'express-memory.js')],
    env: () => ({ SESSION_SECRET: SECRET }),
    scenarios: ['returning', 'new', 'hot'],
  },
  {
    key: 'express-sqlite',
    label: 'express-session + SQLite store',
    runtime: 'Node',
    cmd: ['node', join(BENCH, 'peers', 'express-sqlite.js')],
    env: (dir) => nodeEnv(dir, 'express.db'),
    scenarios: ['returning', 'new', 'hot'],
  },
  {
    key: 'fastify-session',
    label: '@fastify/session (memory)',
    runtime: 'Node',
    cmd: ['node', join(BENCH, 'peers', 'fastify-session.js')],
    env: () => ({ SESSION_SECRET: SECRET }),
    scenarios: ['returning', 'new', 'hot'],
  },
  {
    key: 'hono-sessions',
    label: 'hono-sessions + BunSqliteStore',
    runtime: 'Bun',
    cmd: [bun, join(BENCH, 'peers', 'hono-sessions.ts')],
    env: (dir) => nodeEnv(dir, 'hono-sessions.db'),
    scenarios: ['returning', 'new', 'hot'],
  },
  {
    key: 'hono-session',
    label: '@hono/session + bun:sqlite storage',
    runtime: 'Bun',
    cmd: [bun, join(BENCH, 'peers', 'hono-session.ts')],
    env: (dir) => nodeEnv(dir, 'hono-session.db'),
    scenarios: ['returning', 'new', 'hot'],
  },
]

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = listener.port
  listener.stop(true)
  return port
}

type Running = { child: Subprocess; port: number; logFile: string; url: string }

async function startServer(def: ServerDef, dir: string, tag: string): Promise<Running> {
  const port = await freePort()
  const logFile = join(dir, `${def.key}-${tag}.log`)
  const child = spawn(['taskset', '-c', CFG.serverCpu, ...def.cmd], {
    cwd: dir,
    env: { ...env, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port), ...def.env(dir) },
    stdout: Bun.file(logFile),
    stderr: Bun.file(logFile),
  })
  const url = `http://127.0.0.1:${port}/`
  const deadline = performance.now() + 20_000
  while (performance.now() < deadline) {
    if (child.exitCode !== null) break
    try {
      const res = await fetch(`${url}healthz`)
      await res.arrayBuffer()
      if (res.status === 200) return { child, port, logFile, url }
    } catch {}
    await Bun.sleep(20)
  }
  await stopServer({ child, port, logFile, url })
  const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-3).join(' | ') : ''
  throw new StartError(`did not answer /healthz (exit ${child.exitCode ?? 'none'}): ${tail}`)
}
class StartError extends Error {}

async function stopServer(server: Running): Promise<number | null> {
  if (server.child.exitCode !== null) return server.child.exitCode
  server.child.kill('SIGTERM')
  const exited = await Promise.race([server.child.exited, Bun.sleep(5_000).then(() => undefined)])
  if (exited === undefined) {
    server.child.kill('SIGKILL')
    await server.child.exited
    return null
  }
  return exited
}

function peakRssKb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const match = /VmHWM:\s+(\d+) kB/.exec(status)
    return match ? Number(match[1]) : undefined
  } catch {
    return undefined
  }
}

/** The counter logic answers like the tutorial: first visit welcomes, the second counts 2. */
async function smokeCheck(url: string): Promise<void> {
  const first = await fetch(url)
  const firstText = await first.text()
  const cookie = first.headers.getSetCookie()[0]?.split(';')[0]
  if (first.status !== 200 || !cookie || !firstText.includes('Welcome to this page for the first time!')) {
    throw new Error(`first visit: ${first.status} ${JSON.stringify(firstText.slice(0, 80))} cookie=${cookie}`)
  }
  const second = await fetch(url, { headers: { cookie } })
  const secondText = await second.text()
  if (second.status !== 200 || !secondText.includes('You visited this page 2 times')) {
    throw new Error(`second visit: ${second.status} ${JSON.stringify(secondText.slice(0, 80))}`)
  }
}

function syntheticCookies(file: string, count: number) {
  const lines: string[] = new Array(count)
  const random = new Uint8Array(64)
  for (let i = 0; i < count; i++) {
    crypto.getRandomValues(random)
    const id = Buffer.from(random.subarray(0, 32)).toString('base64url')
    const mac = Buffer.from(random.subarray(32)).toString('base64').replace(/=+$/, '')
    lines[i] = `id=${id}.${mac}`
  }
  writeFileSync(file, lines.join('\n') + '\n')
}

type Creation = { created: number; failed: number; ms: number }
async function createSessions(url: string, count: number, file: string): Promise<Creation> {
  const deadlineSeconds = Math.max(120, Math.ceil(count / 1000))
  const result = await run(
    [
      'taskset',
      '-c',
      CFG.loadCpu,
      bun,
      join(BENCH, 'create-sessions.ts'),
      url,
      String(count),
      String(CFG.createConcurrency),
      file,
      String(deadlineSeconds),
    ],
    { timeoutMs: (deadlineSeconds + 60) * 1000 }
  )
  const line = result.stdout.trim().split('\n').pop() ?? ''
  if (result.code !== 0 || !line.startsWith('{')) {
    throw new Error(`creating ${count} sessions failed: ${line} ${result.stderr.slice(-300)}`)
  }
  return JSON.parse(line)
}

/** Busy time of the whole machine in clock ticks (user+nice+system; steal apart). */
function machineTicks(): { busy: number; steal: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  return { busy: f[0]! + f[1]! + f[2]!, steal: f[7] ?? 0 }
}
/** CPU time of a process (all its threads) in clock ticks. */
function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return 0
  }
}
const TICKS = 100 // USER_HZ on Linux

type WrkResult = {
  requests: number
  duration_us: number
  connect: number
  read: number
  write: number
  status: number
  timeout: number
  p50_us: number
  p90_us: number
  p99_us: number
  max_us: number
  mean_us: number
  rps: number
  errors: number
  /** Cores the server kept busy during the round (1 = its core saturated). */
  serverCores?: number
  /** Cores busy with anything but the server and wrk (other users of the machine). */
  foreignCores?: number
  stealCores?: number
}

async function wrk(url: string, seconds: number, cookieFile: string | undefined, cookie?: string, serverPid?: number): Promise<WrkResult> {
  const machine0 = machineTicks()
  const server0 = serverPid ? processTicks(serverPid) : 0
  const t0 = performance.now()
  const cmd = ['taskset', '-c', CFG.loadCpu, 'wrk', '-t1', `-c${CFG.connections}`, `-d${seconds}s`, '--timeout', '2s']
  if (cookie) cmd.push('-H', `Cookie: ${cookie}`)
  cmd.push('-s', join(BENCH, 'wrk', cookieFile ? 'random-cookie.lua' : 'static.lua'), url)
  if (cookieFile) cmd.push('--', cookieFile)
  const result = await run(cmd, { timeoutMs: (seconds + 120) * 1000 })
  const line = result.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '))
  if (result.code !== 0 || !line) throw new Error(`wrk failed (${result.code}): ${result.stderr.slice(-300)}`)
  const raw = JSON.parse(line.slice('BENCH_JSON '.length))
  const elapsed = (performance.now() - t0) / 1000
  const machine1 = machineTicks()
  const serverTicks = serverPid ? processTicks(serverPid) - server0 : 0
  const wrkTicks = (result.cpuMicros / 1e6) * TICKS
  return {
    ...raw,
    serverCores: serverTicks / TICKS / elapsed,
    foreignCores: Math.max(0, machine1.busy - machine0.busy - serverTicks - wrkTicks) / TICKS / elapsed,
    stealCores: (machine1.steal - machine0.steal) / TICKS / elapsed,
    rps: raw.requests / (raw.duration_us / 1e6),
    errors: raw.connect + raw.read + raw.write + raw.status + raw.timeout,
  }
}

/** Waits (at most CFG.quietWait s) until other processes use < 0.15 core. @returns seconds waited. */
async function waitForQuiet(): Promise<{ waited: number; load: number }> {
  const started = performance.now()
  let load = 0
  while (true) {
    const before = machineTicks().busy
    await Bun.sleep(1000)
    load = (machineTicks().busy - before) / TICKS
    const waited = (performance.now() - started) / 1000
    if (load < 0.15 || waited >= CFG.quietWait) return { waited, load }
  }
}

// ---------------------------------------------------------------- one server x one scenario
async function measure(def: ServerDef, scenario: Scenario, dir: string): Promise<Row> {
  const row: Row = { server: def.key, scenario, rounds: [] }
  let server: Running | undefined
  try {
    if (CFG.quietWait > 0) {
      const quiet = await waitForQuiet()
      if (quiet.waited > 1.5) log(`  waited ${quiet.waited.toFixed(0)} s for a quiet machine (others: ${quiet.load.toFixed(2)} cores)`)
    }
    server = await startServer(def, dir, scenario)
    if (!def.synthetic) await smokeCheck(server.url)
    let cookieFile: string | undefined
    let cookie: string | undefined
    if (scenario === 'returning' || scenario === 'big') {
      const count = scenario === 'big' ? CFG.bigSessions : CFG.sessions
      cookieFile = join(dir, `${def.key}-${scenario}.cookies`)
      if (def.synthetic) {
        syntheticCookies(cookieFile, count)
      } else {
        log(`  creating ${count.toLocaleString('en')} sessions over HTTP...`)
        row.creation = await createSessions(server.url, count, cookieFile)
        const rate = row.creation.created / (row.creation.ms / 1000)
        log(`  created ${row.creation.created} in ${(row.creation.ms / 1000).toFixed(1)} s (${Math.round(rate)}/s)`)
      }
    } else if (scenario === 'hot') {
      if (def.synthetic) {
        const file = join(dir, 'hot.cookie')
        syntheticCookies(file, 1)
        cookie = readFileSync(file, 'utf8').trim()
      } else {
        const res = await fetch(server.url)
        await res.arrayBuffer()
        cookie = res.headers.getSetCookie()[0]?.split(';')[0]
        if (!cookie) throw new Error('no Set-Cookie on the first visit')
      }
    }
    if (CFG.warmup > 0) await wrk(server.url, CFG.warmup, cookieFile, cookie)
    for (let round = 1; round <= CFG.rounds; round++) {
      const result = await wrk(server.url, CFG.seconds, cookieFile, cookie, server.child.pid)
      row.rounds.push(result)
      log(
        `  round ${round}: ${Math.round(result.rps).toLocaleString('en')} req/s, p50 ${(result.p50_us / 1000).toFixed(2)} ms, ` +
          `p99 ${(result.p99_us / 1000).toFixed(2)} ms, errors ${result.errors}, server ${result.serverCores!.toFixed(2)} cores, ` +
          `others ${result.foreignCores!.toFixed(2)} cores`
      )
    }
    if (!def.synthetic) {
      // After the load: the server still counts right (catches a server that answered 200s with junk).
      await smokeCheck(server.url)
    }
    row.peakRssKb = peakRssKb(server.child.pid)
    row.exitCode = await stopServer(server)
    server = undefined
    const rps = row.rounds.map((r) => r.rps)
    row.rps = median(rps)
    row.p50Ms = median(row.rounds.map((r) => r.p50_us / 1000))
    row.p99Ms = median(row.rounds.map((r) => r.p99_us / 1000))
    row.errors = row.rounds.reduce((sum, r) => sum + r.errors, 0)
    row.requests = row.rounds.reduce((sum, r) => sum + r.requests, 0)
    row.serverCores = median(row.rounds.map((r) => r.serverCores ?? 0))
    row.foreignCores = Math.max(...row.rounds.map((r) => r.foreignCores ?? 0))
    log(
      `  => median ${Math.round(row.rps).toLocaleString('en')} req/s, p99 ${row.p99Ms.toFixed(2)} ms, ` +
        `peak RSS ${row.peakRssKb ? (row.peakRssKb / 1024).toFixed(1) : '?'} MB, exit ${row.exitCode}`
    )
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    if (error instanceof StartError && def.optional) row.skipped = message
    else row.error = message
    log(`  ${row.skipped ? 'skipped' : 'ERROR'}: ${message}`)
  } finally {
    if (server) await stopServer(server)
  }
  return row
}

async function startupTimes(dir: string): Promise<number[]> {
  const times: number[] = []
  for (let i = 0; i < CFG.startupRuns; i++) {
    const port = await freePort()
    const db = join(dir, `startup-${i}.db`)
    const started = performance.now()
    const child = spawn(['taskset', '-c', CFG.serverCpu, BINARY], {
      cwd: dir,
      env: { ...env, ...OURS_ENV, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port), SESSION_DB: db, SESSION_SECRET: SECRET },
      stdout: 'ignore',
      stderr: 'ignore',
    })
    const deadline = started + 10_000
    let ms: number | undefined
    while (performance.now() < deadline && child.exitCode === null) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`)
        await res.arrayBuffer()
        if (res.status === 200) {
          ms = performance.now() - started
          break
        }
      } catch {}
      await Bun.sleep(1)
    }
    await stopServer({ child, port, logFile: '', url: '' })
    if (ms === undefined) throw new Error('our binary did not answer /healthz within 10 s')
    times.push(ms)
  }
  return times
}

// ---------------------------------------------------------------- facts for the report
async function versionOf(cmd: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(cmd, { timeoutMs: 10_000 })
    return (stdout || stderr).trim().split('\n')[0] ?? '?'
  } catch {
    return '?'
  }
}
function packageVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(join(BENCH, 'node_modules', name, 'package.json'), 'utf8')).version
  } catch {
    return '?'
  }
}
async function machineFacts() {
  const os = existsSync('/etc/os-release')
    ? (/PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '?')
    : '?'
  const { Database } = await import('bun:sqlite')
  const sqlite = (new Database(':memory:').query('select sqlite_version() as v').get() as { v: string }).v
  const commit = (await versionOf(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'])) || '?'
  const dirty = (await run(['git', '-C', ROOT, 'status', '--porcelain', '--', 'src'])).stdout.trim() ? ' (src modified)' : ''
  return {
    host: hostname(),
    cpu: cpus()[0]?.model ?? '?',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os,
    kernel: release(),
    loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    commit: commit + dirty,
    versions: {
      bun: Bun.version,
      node: (await versionOf(['node', '--version'])).replace(/^v/, ''),
      wrk: (await versionOf(['wrk', '--version'])).split(' ')[1] ?? '?',
      'bun:sqlite (SQLite)': sqlite,
      elysia: packageVersion('elysia'),
      hono: packageVersion('hono'),
      'hono-sessions': packageVersion('hono-sessions'),
      '@hono/session': packageVersion('@hono/session'),
      express: packageVersion('express'),
      'express-session': packageVersion('express-session'),
      'better-sqlite3': packageVersion('better-sqlite3'),
      'better-sqlite3-session-store': packageVersion('better-sqlite3-session-store'),
      fastify: packageVersion('fastify'),
      '@fastify/session': packageVersion('@fastify/session'),
      '@fastify/cookie': packageVersion('@fastify/cookie'),
    },
  }
}

// ---------------------------------------------------------------- main
const started = performance.now()
const dir = mkdtempSync(join(tmpdir(), 'session-bench-'))
try {
  await ensureWrk()
  if (!Bun.which('taskset')) throw new Error('taskset (util-linux) is missing')
  await ensurePeers()
  await ensureBinary()

  const onlyServers = env.BENCH_SERVERS?.split(',').map((s) => s.trim())
  const onlyScenarios = env.BENCH_SCENARIOS?.split(',').map((s) => s.trim()) as Scenario[] | undefined
  const notes: string[] = []
  const redis = await redisAnswers()
  if (!redis) notes.push('ours (Redis) not run: nothing answers PING on 127.0.0.1:6379.')
  const postgres = await postgresDatabase('CREATE')
  if (!postgres) notes.push(`ours (PostgreSQL) not run: cannot create a database at ${PG_ADMIN_URL}.`)
  const servers = SERVERS.filter(
    (s) => (!onlyServers || onlyServers.includes(s.key)) && (s.key !== 'ours-redis' || redis) && (s.key !== 'ours-postgres' || postgres)
  )
  const scenarios = ALL_SCENARIOS.filter((s) => !onlyScenarios || onlyScenarios.includes(s))
  if (servers.some((s) => s.key === 'ours-redis-cluster')) clusterSeeds = await benchCluster()

  const facts = await machineFacts()
  log(`bench: ${facts.cpu}, ${facts.cores} cores; server on core ${CFG.serverCpu}, wrk on core ${CFG.loadCpu}`)
  log(`bench: ${CFG.rounds} round(s) x ${CFG.seconds} s after ${CFG.warmup} s warm-up, ${CFG.connections} connections`)

  const rows: Row[] = []
  for (const def of servers) {
    for (const scenario of scenarios) {
      if (!def.scenarios.includes(scenario)) continue
      log(`\n[${def.label}] ${SCENARIO_LABEL[scenario]}`)
      const row = await measure(def, scenario, dir)
      rows.push(row)
      if (row.skipped) {
        notes.push(`${def.label} skipped: ${row.skipped}`)
        break
      }
    }
    if (def.key === 'ours-redis') await cleanRedis()
  }

  let startup: number[] = []
  try {
    startup = await startupTimes(dir)
  } catch (error) {
    notes.push(`start-up time not measured: ${error instanceof Error ? error.message : error}`)
  }
  const floor = await run(['taskset', '-c', CFG.serverCpu, process.execPath, join(BENCH, 'sqlite-floor.ts')], { cwd: ROOT })
  if (floor.code !== 0) notes.push(`bun:sqlite floor not measured: ${floor.stderr.slice(-300)}`)
  // One /metrics scrape's cost with 1,000,000 sessions stored (bench/metrics-scrape.ts): its JSON line and verdict.
  process.env.BENCH_SERVER_CPU ??= CFG.serverCpu // the script pins its server like ours, the client stays free
  const scrape = await run([process.execPath, join(BENCH, 'metrics-scrape.ts')], { cwd: ROOT })
  notes.push(`metrics scrape (bun bench/metrics-scrape.ts): ${scrape.stdout.trim().split('\n').join(' ') || `not measured: ${scrape.stderr.slice(-300)}`}`)
  const scrapeLine = scrape.stdout.split('\n').find((line) => line.startsWith('{'))
  let metricsScrape: Results['metricsScrape']
  try {
    metricsScrape = scrapeLine ? JSON.parse(scrapeLine) : undefined
  } catch {}

  const results: Results = {
    date: new Date().toISOString(),
    command: `${Object.entries(env)
      .filter(([k]) => k.startsWith('BENCH_'))
      .map(([k, v]) => `${k}=${v} `)
      .join('')}bun run bench`,
    config: CFG,
    facts,
    binary: { path: BINARY, bytes: statSync(BINARY).size, startupMs: startup, startupMedianMs: startup.length ? median(startup) : undefined },
    sqliteFloor: floor.code === 0 ? floor.stdout : undefined,
    metricsScrape,
    oursEnv: OURS_ENV,
    servers: servers.map(({ key, label, runtime }) => ({ key, label, runtime })),
    scenarios: scenarios.map((key) => ({ key, label: SCENARIO_LABEL[key] })),
    rows,
    notes,
    wallSeconds: 0,
  }
  results.wallSeconds = Math.round((performance.now() - started) / 1000)
  results.targets = evaluateTargets(results)
  const markdown = renderMarkdown(results)
  mkdirSync(RESULTS, { recursive: true })
  writeFileSync(join(RESULTS, 'latest.json'), JSON.stringify(results, null, 2) + '\n')
  writeFileSync(join(RESULTS, 'latest.md'), markdown)
  writeFileSync(join(RESULTS, 'latest.svg'), renderSvg(results))
  log('\n' + markdown)
  log(`bench: wrote ${RESULTS}/latest.{md,svg,json} in ${results.wallSeconds} s`)
  const failed = results.targets.some((t) => t.pass === false)
  const count = (pass: boolean | undefined) => results.targets!.filter((t) => t.pass === pass).length
  log(`bench: targets ${count(true)} PASS, ${count(false)} FAIL, ${count(undefined)} not measured`)
  if (env.BENCH_STRICT === '1' && failed) process.exitCode = 1
} finally {
  killAll()
  await postgresDatabase('DROP')
  await stopBenchCluster()
  rmSync(dir, { recursive: true, force: true })
}
