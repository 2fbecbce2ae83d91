/**
 * The benchmark's report: the results' types, the Markdown page (with targets.ts's PASS/FAIL
 * table) and the hand-written SVG bar chart. Pure functions of the results, so a saved
 * latest.json can be re-rendered: `bun bench/lib/report.ts bench/results/latest.json`.
 */
import { BARE, evaluateTargets, find, FLOOR, fmtInt, fmtMs, fmtRatio, mb, MEMORY, NOISY, verdict } from './targets'

export type ServerInfo = { key: string; label: string; runtime: string }

export type Round = {
  requests: number
  rps: number
  p50_us: number
  p90_us: number
  p99_us: number
  max_us: number
  errors: number
  [more: string]: number
}

export type Row = {
  server: string
  scenario: string
  rounds: Round[]
  creation?: { created: number; failed: number; ms: number; error?: string }
  rps?: number
  p50Ms?: number
  p99Ms?: number
  errors?: number
  requests?: number
  peakRssKb?: number
  /** Median cores the server used during a round; 1 means its core was saturated. */
  serverCores?: number
  /** Worst round's cores used by processes other than the server and wrk (noise). */
  foreignCores?: number
  exitCode?: number | null
  skipped?: string
  error?: string
}

export type Target = { name: string; want: string; got: string; pass: boolean | undefined }

export type Results = {
  date: string
  command: string
  config: Record<string, number | string>
  facts: {
    cpu: string
    cores: number
    memoryGiB: number
    os: string
    kernel: string
    loadAverage: string
    commit: string
    versions: Record<string, string>
    [more: string]: unknown
  }
  binary: { path: string; bytes: number; startupMs: number[]; startupMedianMs?: number }
  /** `bench/sqlite-floor.ts`'s Markdown table: bun:sqlite alone, one committed update per request. */
  sqliteFloor?: string
  servers: ServerInfo[]
  scenarios: { key: string; label: string }[]
  rows: Row[]
  notes: string[]
  targets?: Target[]
  /** What ours ran with beyond its defaults (BENCH_OURS_ENV); empty means the defaults alone. */
  oursEnv?: Record<string, string>
  /**
   * `bench/metrics-scrape.ts`'s JSON line as parsed: /metrics round trips (ms) with `sessions`
   * stored; the median bounds a scrape's event-loop time. Absent: the target reads "not measured".
   */
  metricsScrape?: {
    sessions: number
    scrapeMs: { n: number; p50: number; p99: number; max: number }
    healthzBesideScrapesMs?: { p99: number; max: number }
    [more: string]: unknown
  }
  wallSeconds: number
}

export { evaluateTargets }

export function renderMarkdown(r: Results): string {
  const targets = r.targets ?? evaluateTargets(r)
  const label = (key: string) => r.servers.find((s) => s.key === key)?.label ?? key
  const runtime = (key: string) => r.servers.find((s) => s.key === key)?.runtime ?? ''
  const out: string[] = []
  out.push('# Benchmark: sessions on Elysia/Bun vs the usual Node servers', '')
  out.push(`Measured ${r.date.replace('T', ' ').slice(0, 16)} UTC at commit \`${r.facts.commit}\` with:`, '')
  out.push('```sh', r.command, '```', '')
  out.push(`Full run wall time: ${Math.floor(r.wallSeconds / 60)} min ${r.wallSeconds % 60} s.`, '')
  out.push('![req/s per server and scenario](latest.svg)', '')

  out.push('## Machine and versions', '')
  out.push(
    `- ${r.facts.cpu}, ${r.facts.cores} cores, ${r.facts.memoryGiB} GiB; ${r.facts.os}, Linux ${r.facts.kernel}; load average at start ${r.facts.loadAverage}`
  )
  out.push(`- ${Object.entries(r.facts.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  out.push(
    `- Our binary (\`${r.binary.path}\`): ${r.binary.bytes.toLocaleString('en')} bytes (${(r.binary.bytes / 2 ** 20).toFixed(1)} MiB); start-up to the first 200 on /healthz: ` +
      (r.binary.startupMedianMs !== undefined
        ? `**${r.binary.startupMedianMs.toFixed(0)} ms** median of ${r.binary.startupMs.length} (${r.binary.startupMs.map((t) => t.toFixed(0)).join(', ')} ms)`
        : 'not measured'),
    ''
  )

  out.push('## Method', '')
  const c = r.config
  out.push(
    `- Each server runs alone, pinned to core ${c.serverCpu} (\`taskset -c ${c.serverCpu}\`), NODE_ENV=production; wrk runs pinned to core ${c.loadCpu} with one thread and ${c.connections} keep-alive connections (\`wrk -t1 -c${c.connections}\`).`,
    `- A fresh server process (and a fresh temporary database) per server and scenario: ${c.warmup} s warm-up, then ${c.rounds} round(s) of ${c.seconds} s; req/s, p50 and p99 are the medians of the rounds, errors are summed over the rounds (socket errors + wrk's status errors, i.e. answers ≥ 400), peak RSS is the server's VmHWM from /proc after the last round (it includes creating the sessions).`,
    `- \`server cores\`: the median share of a core the server process used during a round (1.00 = its core saturated). \`other load\`: the worst round's CPU used on the machine by anything but the server and wrk (from /proc/stat); ⚠ marks rows above ${NOISY} core, measured while something else ran.`,
    `- Before and after the load every session server is checked over HTTP for the tutorial's answers (first visit welcomes, the second counts 2).`,
    `- **returning visitors**: ${Number(c.sessions).toLocaleString('en')} sessions created over HTTP first (\`bench/create-sessions.ts\`: ${c.createConcurrency} concurrent keep-alive fetches on the load core, Set-Cookie values kept in a file); every request carries one of them picked at random (\`bench/wrk/random-cookie.lua\`).`,
    `- **new visitors**: no cookie, so every request creates and stores a session.`,
    `- **one hot session**: all connections send the same session cookie.`,
    `- **returning, big store**: as returning visitors, with ${Number(c.bigSessions).toLocaleString('en')} sessions created over HTTP (not inserted behind the server's back); run for ours and for bare Elysia only.`,
    `- Bare Elysia serves no sessions: it gets random cookies of the same shape and length, so wrk's work per request is the same.`,
    `- **Floor references** (\`bench/peers/floor-*.ts\`), not competitors: the least a secure server-side session layer must do per request on Elysia: read the cookie, verify its HMAC-SHA256 signature, SHA-256 the 256-bit ID into a key, look the count up in a Map and increment it; a new visitor gets a new ID and a Set-Cookie with \`Cache-Control: no-store\`. No expiry, no multi-process view. \`floor, memory\` stops there; \`floor, bun:sqlite\` also appends each visit's \`(key, count)\` to an append-only table, one transaction per event-loop turn (WAL, synchronous=NORMAL as ours), and replies after its commit: the cheapest durable commit. They show how far ours is from the floor.`,
    `- Peers: express-session with its default MemoryStore and with better-sqlite3-session-store (WAL, synchronous=NORMAL like ours), @fastify/session with its default in-memory store (all under Node); hono-sessions with its BunSqliteStore and an encryption key, as its README sets it up, and @hono/session with a small bun:sqlite storage (it ships none), both under Bun with WAL and synchronous=NORMAL. All with the tutorial's \`page_views\` logic.`,
    `- Ours: the compiled binary with its default configuration (SQLite, memory and Redis stores as separate rows); bare Elysia and the floors under Bun.`,
    ''
  )

  out.push('## Results', '')
  out.push('Ratios: `× bare` = this figure / bare Elysia\'s in the same scenario; `× floor` = this figure / the durable floor\'s (`floor, bun:sqlite`); `× mem` = this figure / express-session MemoryStore\'s.', '')
  out.push('| scenario | server | runtime | req/s | × bare | × floor | × mem | p50 ms | p99 ms | p99 × bare / × mem | errors | peak RSS MB | RSS × bare / × mem | server cores | other load |')
  out.push('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const scenario of r.scenarios) {
    const bare = find(r, BARE, scenario.key)
    const mem = find(r, MEMORY, scenario.key)
    const floor = find(r, FLOOR, scenario.key)
    for (const row of r.rows.filter((x) => x.scenario === scenario.key)) {
      const name = row.server.startsWith('ours-') ? `**${label(row.server)}**` : label(row.server)
      if (row.rps === undefined) {
        out.push(`| ${scenario.label} | ${name} | ${runtime(row.server)} | ${row.skipped ? 'skipped' : 'error'}: ${(row.skipped ?? row.error ?? '').replace(/\|/g, '/').slice(0, 160)} | | | | | | | | | | | |`)
        continue
      }
      const rss = mb(row.peakRssKb)
      out.push(
        `| ${scenario.label} | ${name} | ${runtime(row.server)} | ${fmtInt(row.rps)} | ${fmtRatio(row.rps, bare?.rps)} | ${fmtRatio(row.rps, floor?.rps)} | ${fmtRatio(row.rps, mem?.rps)} | ` +
          `${fmtMs(row.p50Ms!)} | ${fmtMs(row.p99Ms!)} | ${fmtRatio(row.p99Ms, bare?.p99Ms)} / ${fmtRatio(row.p99Ms, mem?.p99Ms)} | ` +
          `${fmtInt(row.errors!)} of ${fmtInt(row.requests!)} | ${rss === undefined ? '?' : rss.toFixed(1)} | ${fmtRatio(rss, mb(bare?.peakRssKb))} / ${fmtRatio(rss, mb(mem?.peakRssKb))} | ` +
          `${row.serverCores?.toFixed(2) ?? '?'} | ${row.foreignCores === undefined ? '?' : row.foreignCores.toFixed(2) + (row.foreignCores > NOISY ? ' ⚠' : '')} |`
      )
    }
  }
  out.push('')
  const creations = r.rows.filter((row) => row.creation)
  if (creations.length) {
    out.push('Creating the sessions over HTTP (before the load; one client core, one server core):', '')
    for (const row of creations) {
      const { created, ms } = row.creation!
      out.push(`- ${label(row.server)}, ${row.scenario}: ${created.toLocaleString('en')} sessions in ${(ms / 1000).toFixed(1)} s (${fmtInt(created / (ms / 1000))}/s)`)
    }
    out.push('')
  }

  const extra = r.oursEnv && Object.entries(r.oursEnv).map(([k, v]) => `${k}=${v}`).join(', ')
  const config = r.oursEnv === undefined ? 'an environment this run did not record' : extra ? `its default configuration plus ${extra}` : 'its default configuration'
  out.push('## Targets', '', `Ours ran with ${config}; every ratio is from this run.`, '')
  out.push('| target | wanted | measured | result |', '| --- | --- | --- | --- |')
  for (const t of targets) {
    out.push(`| ${t.name} | ${t.want} | ${t.got} | ${verdict(t.pass)} |`)
  }
  out.push('')
  if (r.sqliteFloor) {
    out.push(
      '## The floor under ours: bun:sqlite alone',
      '',
      "What one committed update of a random row costs in bun:sqlite with no HTTP, no Elysia and no session code (`bun bench/sqlite-floor.ts`, pinned to the server's core): our table, 10,000 rows, WAL, synchronous=NORMAL, grouped IMMEDIATE transactions. Compare it with bare Elysia's whole request, 1e6 / its req/s µs: the returning-visitors target leaves 1e6 / (0.45 × bare req/s) minus that for everything a session adds, the write included.",
      '',
      r.sqliteFloor.trim(),
      ''
    )
    const bare = r.rows.find((row) => row.server === 'elysia-bare' && row.scenario === 'returning')?.rps
    if (bare) {
      const whole = 1e6 / bare
      out.push(
        `In this run bare Elysia answered a returning visitor in ${whole.toFixed(1)} µs of its core (1e6 / ${fmtInt(bare)} req/s). At 0.45× its req/s a request may take ${(whole / 0.45).toFixed(1)} µs, which leaves **${(whole / 0.45 - whole).toFixed(1)} µs** per request for everything a session adds: reading the cookie, checking its signature, the store's read, the committed write and the Set-Cookie when one is due.`,
        ''
      )
    }
  }
  const noisy = r.rows.filter((row) => (row.foreignCores ?? 0) > NOISY)
  // Not pushed into r.notes: latest.json keeps the run's own notes, so re-rendering adds it once.
  const notes = noisy.length
    ? [
        ...r.notes.filter((n) => !n.includes('rows (⚠) ran while')),
        `${noisy.length} of ${r.rows.filter((row) => row.rps !== undefined).length} rows (⚠) ran while other processes used more than ${NOISY} core: their figures are pessimistic. Re-run on a quiet machine for clean numbers.`,
      ]
    : r.notes
  if (notes.length) {
    out.push('## Notes', '', ...notes.map((n) => `- ${n}`), '')
  }
  out.push('Raw figures of every round: [latest.json](latest.json). Re-render: `bun bench/lib/report.ts bench/results/latest.json`.', '')
  return out.join('\n')
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
const COLORS: Record<string, string> = {
  'ours-sqlite': '#d9480f',
  'ours-redis': '#f08c00',
  'elysia-bare': '#868e96',
  'ours-memory': '#c92a2a',
  'floor-sqlite': '#adb5bd',
  'floor-memory': '#ced4da',
  'hono-sessions': '#ae3ec9',
  'hono-session': '#7048e8',
  'express-memory': '#1c7ed6',
  'express-sqlite': '#4dabf7',
  'fastify-session': '#37b24d',
}

/** Grouped bars of median req/s: one group per scenario, one bar per server. */
export function renderSvg(r: Results): string {
  const rows = r.rows.filter((row) => row.rps !== undefined)
  const servers = r.servers.filter((s) => rows.some((row) => row.server === s.key))
  const scenarios = r.scenarios.filter((s) => rows.some((row) => row.scenario === s.key))
  const width = 960
  const left = 70
  const right = 20
  const top = 56
  const plotHeight = 300
  const legendRows = Math.ceil(servers.length / 3)
  const height = top + plotHeight + 40 + legendRows * 22 + 16
  const max = Math.max(1, ...rows.map((row) => row.rps!))
  const step = niceStep(max / 5)
  const yMax = Math.ceil(max / step) * step
  const y = (v: number) => top + plotHeight - (v / yMax) * plotHeight
  const groupWidth = (width - left - right) / Math.max(1, scenarios.length)
  const bar = Math.min(34, (groupWidth - 24) / Math.max(1, servers.length))
  const parts: string[] = []
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="22" font-size="16" font-weight="600" fill="#212529">Requests per second (median of ${r.config.rounds} × ${r.config.seconds} s, one server core, wrk -c${r.config.connections})</text>`,
    `<text x="${left}" y="40" fill="#495057">${esc(`${r.facts.cpu}, ${r.date.slice(0, 10)}; higher is better`)}</text>`
  )
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    parts.push(
      `<line x1="${left}" x2="${width - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e9ecef"/>`,
      `<text x="${left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#495057">${shortNumber(v)}</text>`
    )
  }
  scenarios.forEach((scenario, g) => {
    const inGroup = servers.filter((s) => rows.some((row) => row.server === s.key && row.scenario === scenario.key))
    const x0 = left + g * groupWidth + (groupWidth - inGroup.length * bar) / 2
    inGroup.forEach((server, i) => {
      const row = rows.find((x) => x.server === server.key && x.scenario === scenario.key)!
      const x = x0 + i * bar
      const h = top + plotHeight - y(row.rps!)
      parts.push(
        `<rect x="${(x + 2).toFixed(1)}" y="${y(row.rps!).toFixed(1)}" width="${(bar - 4).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[server.key] ?? '#495057'}"><title>${esc(`${server.label}, ${scenario.label}: ${fmtInt(row.rps!)} req/s, p99 ${fmtMs(row.p99Ms!)} ms`)}</title></rect>`,
        `<text x="${(x + bar / 2).toFixed(1)}" y="${(y(row.rps!) - 4).toFixed(1)}" text-anchor="middle" font-size="10" fill="#212529">${shortNumber(row.rps!)}</text>`
      )
    })
    parts.push(
      `<text x="${(left + g * groupWidth + groupWidth / 2).toFixed(1)}" y="${top + plotHeight + 20}" text-anchor="middle" font-weight="600" fill="#212529">${esc(scenario.label)}</text>`
    )
  })
  parts.push(`<line x1="${left}" x2="${width - right}" y1="${top + plotHeight}" y2="${top + plotHeight}" stroke="#868e96"/>`)
  servers.forEach((server, i) => {
    const col = i % 3
    const line = Math.floor(i / 3)
    const x = left + col * 290
    const yy = top + plotHeight + 44 + line * 22
    parts.push(
      `<rect x="${x}" y="${yy - 10}" width="12" height="12" fill="${COLORS[server.key] ?? '#495057'}"/>`,
      `<text x="${x + 18}" y="${yy}" fill="#212529">${esc(`${server.label} (${server.runtime})`)}</text>`
    )
  })
  parts.push('</svg>', '')
  return parts.join('\n')
}

function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= raw) return m * power
  return 10 * power
}

function shortNumber(v: number): string {
  if (v >= 1000) return `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)}k`
  return String(Math.round(v))
}

if (import.meta.main) {
  const file = process.argv[2] ?? `${import.meta.dir}/../results/latest.json`
  const results = (await Bun.file(file).json()) as Results
  results.targets = evaluateTargets(results)
  const dir = file.replace(/[^/]*$/, '')
  await Bun.write(`${dir}latest.md`, renderMarkdown(results))
  await Bun.write(`${dir}latest.svg`, renderSvg(results))
  console.log(`wrote ${dir}latest.md and ${dir}latest.svg`)
}
