/**
 * @module app
 * The view-counter server of the express-session tutorial, on the session library: the same
 * route and texts, with sessions in a store and an exact count under parallel requests.
 */
import { Elysia } from 'elysia'
import { createServerMetrics, requestObserver, type ServerMetrics } from './observability'
import { createFaultReporter, faultCode, session, SessionStoreError, type SessionOptions, type FullSessionStore } from 'elysia-server-session'

export type CounterData = { views: number }

export type AppOptions = Omit<SessionOptions, 'store' | 'logger'> & {
  store: FullSessionStore
  /** One line per warning or error; `debug`, when given, one line per request. @default console */
  log?: { warn(message: string): void; error(message: string): void; debug?(message: string): void }
  /** Where counters go; created here when not given. */
  metrics?: ServerMetrics
}

/** True when the client asked for JSON and not for HTML (browsers and curl get the seed's text). */
const wantsJson = (accept: string | null) => !!accept?.includes('application/json') && !accept.includes('text/html')

/** The tutorial's texts, exactly. */
export const counterText = (views: number) =>
  views === 1 ? 'Welcome to this page for the first time!' : `You visited this page ${views} times`

export function createApp({ store, log = console, metrics, ...sessionOptions }: AppOptions) {
  const observed = metrics ?? createServerMetrics(async () => (await store.stats(Date.now())).live)
  const probeFaults = createFaultReporter({ logger: log })
  return (
    new Elysia()
      .use(requestObserver(observed, log.debug?.bind(log)))
      .onError(({ code, error, request }) => {
        // Store faults are reported by the session layer (by code, repeats summarised); answers
        // below 500 are the client's, no server error.
        if (code === 'NOT_FOUND' || error instanceof SessionStoreError) return
        if (typeof (error as { status?: unknown }).status === 'number' && (error as { status: number }).status < 500) return
        const name = code === 'UNKNOWN' && error instanceof Error ? error.name : String(code)
        const message = error instanceof Error ? error.message : String(error)
        log.error(`${request.method} ${new URL(request.url).pathname} failed: ${name}: ${message}`)
      })
      // Probes come before the session plugin: they never read or create a session. /metrics is
      // not here: it has a listener of its own (serveMetrics), never the public one.
      .get('/healthz', () => 'ok')
      .get('/readyz', async ({ set }) => {
        try {
          await store.ping()
          return 'ready'
        } catch (error) {
          set.status = 503
          probeFaults.report('readiness probe', error) // the full reason, once per code and interval
          return `session store unavailable: ${faultCode(error)}` // the code only: the message may name hosts or users
        }
      })
      .use(
        session<CounterData>({
          store,
          logger: log,
          // A stored count that is not a positive whole number is no session, never a 500.
          validate: (data) => data.views === undefined || (Number.isSafeInteger(data.views) && (data.views as number) > 0),
          ...sessionOptions,
          onEvent: (event) => {
            observed.onEvent(event)
            sessionOptions.onEvent?.(event)
          },
          onStoreCall: (operation, seconds, failed) => {
            observed.onStoreCall(operation, seconds)
            sessionOptions.onStoreCall?.(operation, seconds, failed)
          },
        })
      )
      .get('/', async ({ session, set, request }) => {
        // One atomic store step: parallel visits each see their own count.
        const views = await session.increment('views')
        if (wantsJson(request.headers.get('accept'))) return { views }
        set.headers['content-type'] = 'text/html; charset=utf-8'
        return counterText(views)
      })
      .post('/logout', async ({ session, set }) => {
        await session.destroy()
        set.headers['clear-site-data'] = '"cookies"'
        set.headers['content-type'] = 'text/html; charset=utf-8'
        return 'Logged out'
      })
  )
}
