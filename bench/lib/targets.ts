/**
 * The benchmark's targets (issue 15), every ratio from one run: ours against the floor references,
 * bare Elysia, the fastest other session peer and express-session's MemoryStore; p99, peak RSS,
 * the big store and the /metrics scrape. Pure functions of the results, used by report.ts.
 */
import type { Results, Row, Target } from './report'

const OURS = 'ours-sqlite'
const OURS_MEMORY = 'ours-memory'
export const BARE = 'elysia-bare'
export const FLOOR = 'floor-sqlite'
const FLOOR_MEMORY = 'floor-memory'
export const MEMORY = 'express-memory'
/** The session peers a user would pick instead of ours (not ours, not bare Elysia, not the floors). */
const PEERS = ['express-memory', 'express-sqlite', 'fastify-session', 'hono-sessions', 'hono-session']

/** The measured row of `server` in `scenario`, if it has figures. */
export const find = (r: Results, server: string, scenario: string) =>
  r.rows.find((row) => row.server === server && row.scenario === scenario && row.rps !== undefined)

/** Cores used by other processes above which a row is flagged as measured on a busy machine. */
export const NOISY = 0.1
export const fmtInt = (n: number) => Math.round(n).toLocaleString('en')
export const fmtMs = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1))
export const fmtRatio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? '–' : `${a / b >= 10 ? (a / b).toFixed(1) : (a / b).toFixed(2)}×`
export const mb = (kb: number | undefined) => (kb === undefined ? undefined : kb / 1024)
export const verdict = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? '**PASS**' : '**FAIL**')

/** The issue's targets, every ratio from this one run; `pass` is undefined when not measured. */
export function evaluateTargets(r: Results): Target[] {
  const targets: Target[] = []
  const label = (key: string) => r.servers.find((s) => s.key === key)?.label ?? key
  // A figure made of error answers (e.g. 429s) proves nothing: more than 1% errors on either side
  // of a ratio fails the target.
  const errorRate = (row: Row | undefined) => (row?.requests ? (row.errors ?? 0) / row.requests : 0)
  const erroneous = (...rows: (Row | undefined)[]) => rows.filter((row): row is Row => errorRate(row) > 0.01)
  const errorNote = (rows: Row[]) =>
    rows.length ? `; INVALID: ${rows.map((row) => `${row.server}/${row.scenario} ${(errorRate(row) * 100).toFixed(1)}% errors`).join(', ')}` : ''
  const ratio = (name: string, a: Row | undefined, b: Row | undefined, min: number, what: string) => {
    const value = a?.rps !== undefined && b?.rps !== undefined ? a.rps / b.rps : undefined
    const bad = erroneous(a, b)
    targets.push({
      name,
      want: `≥ ${min}× ${what}`,
      got: value === undefined ? 'not measured' : `${value.toFixed(2)}× (${fmtInt(a!.rps!)} vs ${fmtInt(b!.rps!)} req/s)${errorNote(bad)}`,
      pass: value === undefined ? undefined : value >= min && bad.length === 0,
    })
  }
  const ours = (scenario: string) => find(r, OURS, scenario)
  ratio('Returning visitors, SQLite vs the durable floor', ours('returning'), find(r, FLOOR, 'returning'), 0.9, 'floor, bun:sqlite')
  ratio('Returning visitors, SQLite vs bare Elysia', ours('returning'), find(r, BARE, 'returning'), 0.45, 'bare Elysia')
  ratio('Returning visitors, memory vs the in-memory floor', find(r, OURS_MEMORY, 'returning'), find(r, FLOOR_MEMORY, 'returning'), 0.9, 'floor, memory')
  ratio('New visitors, SQLite vs the durable floor', ours('new'), find(r, FLOOR, 'new'), 0.8, 'floor, bun:sqlite')
  ratio('New visitors, SQLite vs bare Elysia', ours('new'), find(r, BARE, 'new'), 0.4, 'bare Elysia')
  for (const scenario of r.scenarios) {
    const peers = PEERS.map((key) => find(r, key, scenario.key)).filter((row): row is Row => row !== undefined)
    if (!peers.length) continue
    const fastest = peers.reduce((best, row) => (row.rps! > best.rps! ? row : best))
    const name = scenario.label[0]!.toUpperCase() + scenario.label.slice(1)
    ratio(`${name}, SQLite vs the fastest peer`, ours(scenario.key), fastest, 3, `the fastest peer (${label(fastest.server)})`)
    ratio(`${name}, SQLite vs express-session MemoryStore`, ours(scenario.key), find(r, MEMORY, scenario.key), 10, 'MemoryStore')
  }
  const returning = ours('returning')
  const connections = Number(r.config.connections)
  targets.push({
    name: 'Returning visitors, SQLite, p99 latency',
    want: '≤ 5 ms at 64 connections',
    got: returning
      ? `${fmtMs(returning.p99Ms!)} ms at ${connections} connections${connections === 64 ? '' : ' (the target is at 64)'}${errorNote(erroneous(returning))}`
      : 'not measured',
    pass: returning && connections === 64 ? returning.p99Ms! <= 5 && erroneous(returning).length === 0 : undefined,
  })
  const oursRows = r.rows.filter((row) => row.server === OURS && row.rps !== undefined)
  const worstRss = oursRows.reduce<Row | undefined>((w, row) => ((row.peakRssKb ?? 0) > (w?.peakRssKb ?? -1) ? row : w), undefined)
  targets.push({
    name: 'SQLite, peak RSS (worst scenario)',
    want: '< 100 MB',
    got: worstRss?.peakRssKb ? `${mb(worstRss.peakRssKb)!.toFixed(1)} MB (${worstRss.scenario})` : 'not measured',
    pass: worstRss?.peakRssKb ? mb(worstRss.peakRssKb)! < 100 : undefined,
  })
  const big = ours('big')
  const bigCount = big?.creation?.created
  ratio(
    `SQLite, ${bigCount ? bigCount.toLocaleString('en') : 'big-store'} sessions vs ${Number(r.config.sessions).toLocaleString('en')}`,
    big,
    returning,
    0.9,
    'the small-store figure'
  )
  const scrape = r.metricsScrape
  const scrapeMs = scrape?.scrapeMs?.p50
  const beside = scrape?.healthzBesideScrapesMs
  targets.push({
    name: '/metrics scrape with 1,000,000 sessions',
    want: '< 1 ms of event-loop time (median round trip)',
    got:
      scrapeMs === undefined
        ? 'not measured'
        : `${fmtMs(scrapeMs)} ms (p99 ${fmtMs(scrape!.scrapeMs.p99)}) with ${scrape!.sessions.toLocaleString('en')} sessions` +
          (beside ? `; /healthz beside scrapes p99 ${fmtMs(beside.p99)} ms, max ${fmtMs(beside.max)} ms` : '') +
          (scrape!.sessions >= 1_000_000 ? '' : ' (the target is at 1,000,000)'),
    pass: scrapeMs === undefined || scrape!.sessions < 1_000_000 ? undefined : scrapeMs < 1,
  })
  return targets
}
