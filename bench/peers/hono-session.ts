// @hono/session (npm; JWE cookie carrying the session ID) with a small bun:sqlite storage, since it
// ships none: one row per session ID, JSON data, WAL with synchronous=NORMAL like ours. The
// tutorial's counter logic in one `update`. Runs on Bun.
import { useSession, useSessionStorage, type SessionEnv } from '@hono/session'
import { Hono } from 'hono'
import { openWalDatabase } from './bun-sqlite'
import { host, onSigterm, port, secret } from './common.js'

type Data = { page_views: number }

const db = openWalDatabase(process.env.SESSION_DB ?? 'hono-session.db')
db.run('CREATE TABLE IF NOT EXISTS sessions (sid TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID')
const select = db.query<{ data: string }, [string]>('SELECT data FROM sessions WHERE sid = ?1')
const upsert = db.query('INSERT INTO sessions (sid, data) VALUES (?1, ?2) ON CONFLICT (sid) DO UPDATE SET data = excluded.data')
const remove = db.query('DELETE FROM sessions WHERE sid = ?1')
const storage = {
  get(sid: string): Data | null {
    const row = select.get(sid)
    return row ? (JSON.parse(row.data) as Data) : null
  },
  set(sid: string, data: Data) {
    upsert.run(sid, JSON.stringify(data))
  },
  delete(sid: string) {
    remove.run(sid)
  },
}

const app = new Hono<SessionEnv<Data>>()
app.get('/healthz', (c) => c.text('ok'))
app.use('/', useSessionStorage(storage), useSession({ secret }))
app.get('/', async (c) => {
  await c.var.session.update((data) => ({ page_views: (data?.page_views ?? 0) + 1 }))
  const views = c.var.session.data!.page_views
  return c.html(views === 1 ? 'Welcome to this page for the first time!' : 'You visited this page ' + views + ' times')
})

const server = Bun.serve({ port, hostname: host, fetch: app.fetch })
onSigterm(() => {
  void server.stop()
  db.close()
})
