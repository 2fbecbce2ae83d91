/**
 * @module app
 * The view-counter server of the express-session tutorial, on the session library: the same
 * route and texts, with sessions in a store and an exact count under parallel requests.
 */
import { Elysia } from 'elysia'
import { session, type SessionOptions, type SessionStore } from './session'

export type CounterData = { views: number }

export type AppOptions = Omit<SessionOptions, 'store' | 'logger'> & {
  store: SessionStore
  /** One line per warning or error. @default console */
  log?: { warn(message: string): void; error(message: string): void }
}

/** The tutorial's texts, exactly. */
export const counterText = (views: number) =>
  views === 1 ? 'Welcome to this page for the first time!' : `You visited this page ${views} times`

export function createApp({ store, log = console, ...sessionOptions }: AppOptions) {
  return (
    new Elysia()
      .onError(({ code, error, request }) => {
        if (code === 'NOT_FOUND') return
        const message = error instanceof Error ? error.message : String(error)
        log.error(`${request.method} ${new URL(request.url).pathname} failed: ${String(code)}: ${message}`)
      })
      // Probes come before the session plugin: they never read or create a session.
      .get('/healthz', () => 'ok')
      .get('/readyz', async ({ set }) => {
        try {
          await store.ping()
          return 'ready'
        } catch {
          set.status = 503
          return 'session store unavailable'
        }
      })
      .use(
        session<CounterData>({
          store,
          logger: log,
          // A stored count that is not a positive whole number is no session, never a 500.
          validate: (data) => data.views === undefined || (Number.isSafeInteger(data.views) && (data.views as number) > 0),
          ...sessionOptions,
        })
      )
      .get('/', async ({ session, set }) => {
        // One atomic store step: parallel visits each see their own count.
        const views = await session.increment('views')
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
