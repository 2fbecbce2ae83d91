// express-session with a durable SQLite store (better-sqlite3-session-store 0.1.0 on
// better-sqlite3 12, WAL journal, synchronous=NORMAL), the tutorial's counter logic unchanged.
import session from 'express-session'
import Database from 'better-sqlite3'
import makeSqliteStore from 'better-sqlite3-session-store'
import { serveExpressCounter } from './express-common.js'

const SqliteStore = makeSqliteStore(session)
const db = new Database(process.env.SESSION_DB || 'express-sessions.db')
db.pragma('journal_mode = WAL')
db.pragma('synchronous = NORMAL')

serveExpressCounter(new SqliteStore({ client: db, expired: { clear: true, intervalMs: 900000 } }), () => db.close())
