/**
 * @module observability
 * The server's metrics and request log: counters for requests and session events, a latency
 * histogram per store operation, and a gauge of records stored, served as Prometheus text on a
 * listener of its own (`serveMetrics`), never on the public one.
 */
import { Elysia, ElysiaCustomStatusResponse, StatusMap } from 'elysia'
import type { SessionEvent, StoreOperation } from 'elysia-server-session'
import { Counter, Gauge, Histogram, renderMetrics } from './metrics'

export type ServerMetrics = ReturnType<typeof createServerMetrics>

/** How often `watchStored` counts the records stored. */
export const STORED_REFRESH_MS = 30_000

/**
 * The registry of one server. `stored` counts the records stored (the store's `stats`, which may
 * scan): it runs only from `refreshStored`/`watchStored`, one count at a time, never in a scrape.
 */
export function createServerMetrics(stored: () => Promise<number>) {
  const requests = new Counter('http_requests_total', 'HTTP requests answered, by route and status')
  const events = new Counter('sessions_events_total', 'Session lifecycle events, by type (created, renewed, destroyed, expired, invalid, flood, csrf)')
  const pruned = new Counter('sessions_pruned_total', 'Expired session records deleted by the pruner')
  const storeLatency = new Histogram(
    'session_store_operation_seconds',
    'Latency of session store operations, by operation',
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
  )
  const eventSeries: Partial<Record<SessionEvent['type'], { value: number }>> = {}
  const storeSeries: Partial<Record<StoreOperation, (seconds: number) => void>> = {}
  const records = new Gauge('sessions_stored', `Session records stored and not expired, counted every ${STORED_REFRESH_MS / 1000} s`)
  let counting: Promise<void> | undefined
  const refreshStored = () =>
    (counting ??= stored()
      .then((count) => void (records.value = count), () => void (records.value = NaN))
      .finally(() => (counting = undefined)))
  return {
    requests,
    events,
    pruned,
    storeLatency,
    onEvent: (event: SessionEvent) => void (eventSeries[event.type] ??= events.series({ type: event.type })).value++,
    /** The session plugin's `onStoreCall`: each store call's latency, failures included. */
    onStoreCall: (operation: StoreOperation, seconds: number) => (storeSeries[operation] ??= storeLatency.series({ operation }))(seconds),
    onPruned: (count: number) => pruned.inc({}, count),
    /** Counts the records stored now (joins a count already running). */
    refreshStored,
    /**
     * Counts now and then again every `intervalMs` on an unref'd timer, or after a hundred times
     * the last count's duration when that is longer: a count that scans (Redis walks its whole
     * keyspace) holds the store at most 1 % of the time. @returns a function that stops it.
     */
    watchStored(intervalMs = STORED_REFRESH_MS) {
      let timer: Timer | undefined
      let stopped = false
      const next = async () => {
        const started = performance.now()
        await refreshStored()
        if (stopped) return
        timer = setTimeout(next, Math.max(intervalMs, 100 * (performance.now() - started)))
        timer.unref()
      }
      void next()
      return () => {
        stopped = true
        clearTimeout(timer)
      }
    },
    render: () => renderMetrics([requests, events, pruned, storeLatency, records]),
  }
}

/** The Prometheus text answer. */
export const metricsResponse = (metrics: ServerMetrics) =>
  new Response(metrics.render(), { headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' } })

/**
 * The /metrics listener, apart from the public one (bind it to loopback or a private network):
 * `GET /metrics`, everything else 404.
 * @example
 * const listener = serveMetrics(metrics, { port: 9100, hostname: '127.0.0.1' })
 */
export function serveMetrics(metrics: ServerMetrics, options: { port: number; hostname: string }) {
  return Bun.serve({
    ...options,
    fetch: (request) =>
      new URL(request.url).pathname === '/metrics' && (request.method === 'GET' || request.method === 'HEAD')
        ? metricsResponse(metrics)
        : new Response('Not Found\n', { status: 404 }),
  })
}

/** The status an answer goes out with, as a mapResponse hook sees it. */
function statusOf(response: unknown, set: { status?: number | string }) {
  if (response instanceof Response) return response.status
  if (response instanceof ElysiaCustomStatusResponse) return response.code as number
  const { status } = set
  return typeof status === 'number' ? status : status === undefined ? 200 : (StatusMap[status as keyof typeof StatusMap] ?? 200)
}

/**
 * Counts every answer by route and status; with `debug`, logs one line per request. It counts in
 * a global `mapResponse` hook, which sees every matched route's answer, errors included, and in
 * `onError` for unmatched paths (no route, so no mapResponse): an `onAfterResponse` hook would
 * cost a `setImmediate` and a closure per request (about 1.5 µs, bench/inprocess.ts).
 */
export function requestObserver(metrics: ServerMetrics, debug?: (message: string) => void) {
  const started = new WeakMap<Request, number>()
  // One series per route and status, found without building a label key per request.
  const byRoute = new Map<string, Map<number, { value: number }>>()
  const seriesOf = (route: string, status: number) => {
    let byStatus = byRoute.get(route)
    if (!byStatus) byRoute.set(route, (byStatus = new Map()))
    let series = byStatus.get(status)
    if (!series) byStatus.set(status, (series = metrics.requests.series({ route, status: String(status) })))
    return series
  }
  const observe = (request: Request, route: string, status: number) => {
    seriesOf(route, status).value++
    if (!debug) return
    const ms = performance.now() - (started.get(request) ?? performance.now())
    debug(`${request.method} ${new URL(request.url).pathname} ${status} ${ms.toFixed(1)}ms`)
  }
  const observer = new Elysia({ name: 'request-observer' })
  if (debug) observer.onRequest(({ request }) => void started.set(request, performance.now()))
  return observer
    .onError({ as: 'global' }, ({ code, request, route }) => {
      // A matched route's NotFoundError is counted by mapResponse, which runs after onError.
      if (code === 'NOT_FOUND' && !route) observe(request, 'unmatched', 404)
    })
    .mapResponse({ as: 'global' }, ({ request, route, set, response }) => {
      observe(request, route || 'unmatched', statusOf(response, set))
    })
}
