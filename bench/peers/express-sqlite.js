// express-session with a durable SQLite store (better-sqlite3-session-store 0.1.0 on
// better-sqlite3 12, WAL journal, synchronous=NORMAL), the tutorial's counter logic unchanged.
import express from 'express'
import session from 'express-session'
import Database from 'better-sqlite3'
import makeSqliteStore from 'better-sqlite3-session-store'
import { port, host, secret, onSigterm } from './common.js'

const SqliteStore = makeSqliteStore(session)
const db = new Database(process.env.SESSION_DB || 'express-sessions.db')
db.pragma('journal_mode = WAL')
db.pragma('synchronous = NORMAL')

const app = express()
app.use(session({
  secret,
  resave: false,
  saveUninitialized: false,
  store: new SqliteStore({ client: db, expired: { clear: true, intervalMs: 900000 } }),
}))

app.get('/healthz', (req, res) => { res.send('ok') })
app.get('/', function (req, res) {
  if (req.session.page_views) {
    req.session.page_views++
    res.send('You visited this page ' + req.session.page_views + ' times')
  } else {
    req.session.page_views = 1
    res.send('Welcome to this page for the first time!')
  }
})

const server = app.listen(port, host)
onSigterm(() => { server.close(); db.close() })
