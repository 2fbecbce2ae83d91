/**
 * `bun bench/store-ops.ts [sqlite|memory] [create|get|visit]`: CPU time per store call, with no HTTP
 * and no session layer: what the store itself costs a request. 10,000 records are created first
 * (a browser's user agent each, as real sessions keep one); then 64 calls at a time, in 7 rounds of
 * 50,000, the heap collected before each round. `visit` is what a returning visitor costs the store
 * (a read and an increment of a random record), `get` the read alone, `create` a new session's write
 * (the table grows by 350,000 rows over the run). Prints the rounds' µs per call, sorted.
 *
 * Settings (environment): STORE_CACHE=20000 (sqliteStore's cacheSize), STORE_KEYS=hash (random keys,
 * as the 43-character IDs of earlier versions give; by default the library's `storeKey(generateId())`).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateId, memoryStore, sqliteStore, storeKey } from 'elysia-server-session'

const [kind = 'sqlite', operation = 'visit'] = process.argv.slice(2)
if (!['sqlite', 'memory'].includes(kind) || !['create', 'get', 'visit'].includes(operation)) {
  console.error('usage: bun bench/store-ops.ts [sqlite|memory] [create|get|visit]')
  process.exit(2)
}
const dir = mkdtempSync(join(tmpdir(), 'store-ops-'))
const store =
  kind === 'memory'
    ? memoryStore({ pruneIntervalMs: 0 })
    : sqliteStore({ path: join(dir, 'sessions.db'), pruneIntervalMs: 0, cacheSize: Number(process.env.STORE_CACHE ?? 20_000) })
const userAgent = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'
const DAY = 86_400_000
const WAVE = 64
const ROUNDS = 7
const CALLS = 50_000

const create = (key: string) => {
  const at = Date.now()
  return store.create(key, { data: { views: 1 }, createdAt: at, lastSeenAt: at, expiresAt: at + DAY, renewedAt: at, userAgent }, 4096)
}
// The keys the session layer makes (`STORE_KEYS=hash`: a bare SHA-256, as before IDs led with their time).
const newKey = process.env.STORE_KEYS === 'hash' ? () => Bun.SHA256.hash(crypto.randomUUID(), 'base64url') as string : () => storeKey(generateId())
const keys = Array.from({ length: 10_000 }, newKey)
for (let i = 0; i < keys.length; i += WAVE) await Promise.all(keys.slice(i, i + WAVE).map(create))

const pick = () => keys[Math.floor(Math.random() * keys.length)]!
const call = (): Promise<unknown> => {
  if (operation === 'create') return create(newKey())
  const key = pick()
  if (operation === 'get') return store.get(key, Date.now())
  return store.get(key, Date.now()).then(() => store.increment(key, 'views', 1, { now: Date.now(), maxBytes: 4096 }))
}
const run = async (calls: number) => {
  for (let done = 0; done < calls; done += WAVE) await Promise.all(Array.from({ length: WAVE }, call))
}

try {
  await run(20_000) // warm-up
  const rounds: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    Bun.gc(true)
    const before = process.cpuUsage()
    await run(CALLS)
    const { user, system } = process.cpuUsage(before)
    rounds.push((user + system) / CALLS)
  }
  rounds.sort((a, b) => a - b)
  console.log(`${kind} ${operation}: µs of CPU per call, ${ROUNDS} rounds of ${CALLS.toLocaleString('en')}, sorted: ${rounds.map((v) => v.toFixed(2)).join(' ')}`)
} finally {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
}
