/**
 * @module main
 * Starts the demo: `bun src/main.ts` (or `bun run start` in this folder) serves
 * http://localhost:3001 with sessions in SQLite (`DEMO_DB`, default `./data/demo-sessions.db`).
 * `SESSION_SECRET` (at least 32 characters) signs the cookies; without it a random one is made
 * for this run, and every session ends with the process.
 */
import { sqliteStore } from 'elysia-server-session'
import { createDemoApp } from './app'

const secret = Bun.env.SESSION_SECRET || crypto.randomUUID() + crypto.randomUUID()
if (!Bun.env.SESSION_SECRET) console.warn('demo: SESSION_SECRET is not set; a random secret is used for this run')
const store = sqliteStore({ path: Bun.env.DEMO_DB || './data/demo-sessions.db' })
const app = (await createDemoApp({ store, secrets: [secret] })).listen({
  port: Number(Bun.env.PORT || 3001),
  hostname: Bun.env.HOST || 'localhost',
})
console.log(`demo: listening on http://${app.server!.hostname}:${app.server!.port}`)

const stop = async () => {
  await app.stop()
  await store.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
