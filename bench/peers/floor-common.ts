/**
 * The floor references' common part: the least a secure server-side session layer must do per
 * request on Elysia, and nothing more. Read the `id` cookie, verify its HMAC-SHA256 signature
 * (cookie-signature's format, as the library signs: `<id>.<base64 MAC without padding>`), hash
 * the ID into its SHA-256 store key, look the count up, increment it; a visitor without a valid
 * session gets a new 256-bit ID and a Set-Cookie with `Cache-Control: no-store`.
 *
 * The current counts live in a Map. What makes a floor durable is its `append(key, views)`: the
 * reply waits for the promise it returns. A reference, not a product: no expiry, no renewal, no
 * multi-process view, no flood guard, no audit. `floor-memory.ts` and `floor-sqlite.ts` serve it.
 */
import { Elysia } from 'elysia'
import { host, onSigterm, port, secret as defaultSecret } from './common.js'

export type FloorOptions = {
  /** Signs new cookies and verifies returning ones. @default SESSION_SECRET (common.js) */
  secret?: string
  /** Counts by store key at start (the durable floor replays its rows into it). */
  counts?: Map<string, number>
  /** Makes `(key, views)` durable; a returned promise holds the reply until it settles. */
  append?: (key: string, views: number) => Promise<void> | void
}

const COOKIE = /(?:^|;\s*)id=([A-Za-z0-9_-]{43})\.([A-Za-z0-9+/]{43})(?:;|$)/

/** The app's texts (src/app.ts `counterText`), so every server answers the same bytes. */
const counterText = (views: number) =>
  views === 1 ? 'Welcome to this page for the first time!' : `You visited this page ${views} times`

/** Compares in time that depends only on the length, which is public. */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return difference === 0
}

/**
 * The floor as an Elysia app (not listening): `/` counts, `/healthz` answers `ok`.
 *
 * @example
 * const app = floorApp({ secret: 'a secret of at least 32 characters....' }).listen(3000)
 */
export function floorApp({ secret = defaultSecret, counts = new Map(), append }: FloorOptions = {}) {
  // A keyed HMAC state copied per call skips the key schedule, as the library's signing does.
  const keyed = new Bun.CryptoHasher('sha256', secret)
  // base64 of 32 bytes is 44 characters, the last one `=` padding.
  const mac = (id: string) => keyed.copy().update(id).digest('base64').slice(0, 43)
  const keyOf = (id: string) => Bun.SHA256.hash(id, 'base64url') as string

  return new Elysia().get('/healthz', () => 'ok').get('/', ({ request, set }) => {
    const match = COOKIE.exec(request.headers.get('cookie') ?? '')
    let key = match && constantTimeEqual(mac(match[1]!), match[2]!) ? keyOf(match[1]!) : undefined
    let views = key === undefined ? undefined : counts.get(key)
    if (views === undefined) {
      const id = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
      key = keyOf(id)
      views = 1
      set.headers['cache-control'] = 'no-store'
      set.headers['set-cookie'] = `id=${id}.${mac(id)}; Path=/; HttpOnly; SameSite=Lax`
    } else {
      views++
    }
    counts.set(key!, views)
    set.headers['content-type'] = 'text/html; charset=utf-8'
    const text = counterText(views)
    const committed = append?.(key!, views)
    if (!committed) return text
    return committed.then(
      () => text,
      () => {
        set.status = 503
        delete set.headers['set-cookie']
        return 'session store unavailable'
      }
    )
  })
}

/** Listens on HOST:PORT (127.0.0.1:3000) and exits 0 on SIGTERM after `close`. */
export function serveFloor(app: ReturnType<typeof floorApp>, close: () => void = () => {}) {
  app.listen({ port, hostname: host })
  onSigterm(() => {
    void app.stop()
    close()
  })
}
