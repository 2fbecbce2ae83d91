// hono-sessions (npm) with its own bun:sqlite store (BunSqliteStore), set up as its README does:
// an encryption key (iron-sealed session ID in the cookie), SameSite=Lax, HttpOnly, Path=/; the
// database in WAL with synchronous=NORMAL like ours. The tutorial's counter logic. Runs on Bun.
import { Hono } from 'hono'
import { sessionMiddleware, type Session } from 'hono-sessions'
import { BunSqliteStore } from 'hono-sessions/bun-sqlite-store'
import { openWalDatabase } from './bun-sqlite'
import { host, onSigterm, port, secret } from './common.js'

const db = openWalDatabase(process.env.SESSION_DB ?? 'hono-sessions.db')
const app = new Hono<{ Variables: { session: Session<{ page_views: number }>; session_key_rotation: boolean } }>()
app.get('/healthz', (c) => c.text('ok'))
app.use(
  '/',
  sessionMiddleware({
    store: new BunSqliteStore(db),
    encryptionKey: secret,
    cookieOptions: { sameSite: 'Lax', path: '/', httpOnly: true },
  })
)
app.get('/', (c) => {
  const session = c.get('session')
  const views = session.get('page_views')
  if (views) {
    session.set('page_views', views + 1)
    return c.html('You visited this page ' + (views + 1) + ' times')
  }
  session.set('page_views', 1)
  return c.html('Welcome to this page for the first time!')
})

const server = Bun.serve({ port, hostname: host, fetch: app.fetch })
onSigterm(() => {
  void server.stop()
  db.close()
})
