/**
 * `bun bench/metrics-scrape.ts`: what a Prometheus scrape costs the server's event loop with a
 * million sessions stored. It writes SCRAPE_SESSIONS live records straight into a fresh SQLite
 * file (our schema, the counter's data), starts the compiled binary on it with METRICS_PORT, waits
 * until `sessions_stored` reports them all (counted off the event loop), then:
 *
 * - scrapes /metrics SCRAPE_COUNT times in a row: a scrape's round trip over loopback bounds the
 *   event-loop time it took (HTTP parsing and the client included), so its median is what is judged;
 * - runs a stream of sequential GET /healthz on the public port, first alone, then next to
 *   back-to-back scrapes: a scrape that held the event loop shows up in that stream's p99 and max.
 *
 * Prints one JSON line, then PASS or FAIL against a median scrape under 1 ms (exit 1 on FAIL).
 * Settings (environment): SCRAPE_SESSIONS=1000000, SCRAPE_COUNT=200, SCRAPE_SECONDS=3 per phase,
 * BENCH_BINARY=dist/session-counter, BENCH_SERVER_CPU (pin the server with taskset, as bench/run.ts does).
 */
import { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { migrate } from '../packages/elysia-server-session/src/stores/sqlite-schema'

const env = process.env
const sessions = Number(env.SCRAPE_SESSIONS ?? 1_000_000)
const scrapes = Number(env.SCRAPE_COUNT ?? 200)
const seconds = Number(env.SCRAPE_SECONDS ?? 3)
const binary = resolve(env.BENCH_BINARY ?? join(import.meta.dir, '..', 'dist', 'session-counter'))
const LIMIT_MS = 1
const dir = mkdtempSync(join(tmpdir(), 'metrics-scrape-'))

/** `count` live records, as the counter writes them, in one file. */
function seed(path: string, count: number) {
  const db = new Database(path, { create: true, strict: true })
  db.run('PRAGMA journal_mode = WAL')
  migrate(db)
  const now = Date.now()
  const insert = db.prepare(
    `INSERT INTO sessions (key, data, created_at, last_seen_at, expires_at, renewed_at, user_agent) VALUES (?1, '{"views":1}', ?2, ?2, ?3, ?2, 'bench')`
  )
  const chunk = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) insert.run(Bun.SHA256.hash(`scrape-${i}`, 'base64url') as string, now, now + 3_600_000)
  })
  for (let from = 0; from < count; from += 50_000) chunk(from, Math.min(count, from + 50_000))
  db.run('PRAGMA wal_checkpoint(TRUNCATE)')
  db.close()
}

async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, fetch: () => new Response() })
  const port = server.port!
  await server.stop(true)
  return port
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
}
const summary = (ms: number[]) => ({
  n: ms.length,
  p50: +quantile(ms, 0.5).toFixed(3),
  p99: +quantile(ms, 0.99).toFixed(3),
  max: +Math.max(...ms).toFixed(3),
})

/** Milliseconds each sequential GET of `url` took, until `until()` says stop. */
async function stream(url: string, until: () => boolean): Promise<number[]> {
  const took: number[] = []
  while (!until()) {
    const started = performance.now()
    await (await fetch(url)).arrayBuffer()
    took.push(performance.now() - started)
  }
  return took
}

let server: Bun.Subprocess | undefined
try {
  const db = join(dir, 'sessions.db')
  const seeding = performance.now()
  seed(db, sessions)
  const seedMs = Math.round(performance.now() - seeding)
  const [port, metricsPort] = [await freePort(), await freePort()]
  const pin = env.BENCH_SERVER_CPU && Bun.which('taskset') ? ['taskset', '-c', env.BENCH_SERVER_CPU] : []
  server = Bun.spawn([...pin, binary], {
    cwd: dir,
    env: { PATH: env.PATH ?? '/usr/bin:/bin', PORT: String(port), HOST: '127.0.0.1', METRICS_PORT: String(metricsPort), SESSION_DB: db, SESSION_SECRET: 'metrics-scrape-bench-secret-0123456789-abcdefgh' },
    stdout: 'ignore',
    stderr: 'pipe',
  })
  const base = `http://127.0.0.1:${port}`
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`
  // Up, and the gauge counted (on the store's worker): then scrapes only read it.
  let gauge = NaN
  for (const deadline = Date.now() + 120_000; gauge !== sessions; await Bun.sleep(100)) {
    if (Date.now() > deadline) throw new Error(`sessions_stored never reached ${sessions} (last: ${gauge})`)
    try {
      gauge = Number(/\nsessions_stored (\S+)\n/.exec(await (await fetch(metricsUrl)).text())?.[1])
    } catch {}
  }

  const scrapeMs: number[] = []
  for (let i = 0; i < scrapes; i++) {
    const started = performance.now()
    const text = await (await fetch(metricsUrl)).text()
    scrapeMs.push(performance.now() - started)
    if (!text.includes(`\nsessions_stored ${sessions}\n`)) throw new Error('a scrape lost the gauge')
  }
  const phase = (ms: number) => {
    const end = performance.now() + ms
    return () => performance.now() >= end
  }
  const alone = await stream(`${base}/healthz`, phase(seconds * 1000))
  let scraping = true
  const scraper = (async () => {
    let n = 0
    while (scraping) (await (await fetch(metricsUrl)).arrayBuffer(), n++)
    return n
  })()
  const beside = await stream(`${base}/healthz`, phase(seconds * 1000))
  scraping = false
  const scrapedBeside = await scraper

  const scrape = summary(scrapeMs)
  const pass = scrape.p50 < LIMIT_MS
  console.log(
    JSON.stringify({
      sessions,
      seedMs,
      scrapeMs: scrape,
      healthzAloneMs: summary(alone),
      healthzBesideScrapesMs: { ...summary(beside), scrapes: scrapedBeside },
      limitMs: LIMIT_MS,
      pass,
    })
  )
  console.log(`${pass ? 'PASS' : 'FAIL'}: a scrape with ${sessions.toLocaleString('en')} sessions stored took ${scrape.p50} ms (median round trip, p99 ${scrape.p99} ms); limit ${LIMIT_MS} ms`)
  if (!pass) process.exitCode = 1
} finally {
  server?.kill('SIGTERM')
  await server?.exited
  rmSync(dir, { recursive: true, force: true })
}
