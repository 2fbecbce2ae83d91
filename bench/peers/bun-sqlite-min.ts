// Reference, not a peer: the simplest bun:sqlite session counter on Elysia that still does what
// ours must (256-bit id, HMAC-signed cookie `id`, SHA-256 store key, one autocommit upsert per
// request, WAL + synchronous=NORMAL). It shows how much of bare Elysia a SQLite write per request
// leaves, i.e. the room the product's own session layer has. `bun bench/peers/bun-sqlite-min.ts`.
import { Database } from 'bun:sqlite'
import { timingSafeEqual } from 'node:crypto'
import { Elysia } from 'elysia'

const secret = (process.env.SESSION_SECRET ?? 'bench-secret-bench-secret-bench-secret-0123').split(',')[0]!
const db = new Database(process.env.SESSION_DB ?? ':memory:', { create: true })
db.exec('PRAGMA journal_mode = WAL')
db.exec('PRAGMA synchronous = NORMAL')
db.exec('CREATE TABLE IF NOT EXISTS sessions (key TEXT PRIMARY KEY, views INTEGER NOT NULL) WITHOUT ROWID')
const bump = db.query<{ views: number }, [string]>('UPDATE sessions SET views = views + 1 WHERE key = ? RETURNING views')
const insert = db.query('INSERT INTO sessions (key, views) VALUES (?, 1)')

const mac = (value: string) => new Bun.CryptoHasher('sha256', secret).update(value).digest('base64').replace(/=+$/, '')
const keyOf = (id: string) => new Bun.CryptoHasher('sha256').update(id).digest('base64url')
const COOKIE = /(?:^|;\s*)id=([A-Za-z0-9_-]{43})\.([A-Za-z0-9+/]{43})(?:;|$)/

function verified(header: string | null): string | undefined {
  const m = header ? COOKIE.exec(header) : null
  if (!m) return undefined
  const want = Buffer.from(mac(m[1]!))
  const got = Buffer.from(m[2]!)
  return want.length === got.length && timingSafeEqual(want, got) ? m[1] : undefined
}

const app = new Elysia()
  .get('/healthz', () => 'ok')
  .get('/', ({ request, set }) => {
    const id = verified(request.headers.get('cookie'))
    if (id) {
      const row = bump.get(keyOf(id))
      if (row) return `You visited this page ${row.views} times`
    }
    const fresh = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
    insert.run(keyOf(fresh))
    set.headers['set-cookie'] = `id=${fresh}.${mac(fresh)}; Path=/; HttpOnly; SameSite=Lax`
    return 'Welcome to this page for the first time!'
  })
  .listen({ port: Number(process.env.PORT ?? 3000), hostname: process.env.HOST ?? '127.0.0.1' })

process.on('SIGTERM', () => {
  app.stop()
  db.close()
  process.exit(0)
})
